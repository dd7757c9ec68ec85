"""Serialised draws of every generator for the determinism tests (also run by ``python -m``)."""

from __future__ import annotations

import json
import sys

from testbed.synthetic import make_faker


def draws(seed: int | str, rounds: int) -> str:
    fake = make_faker(seed)
    out = []
    for _ in range(rounds):
        sex = fake.ma_sex()
        age = fake.ma_age(sex)
        out.append(
            [
                fake.ins(),
                fake.cnie(),
                fake.carte_sejour(),
                fake.cnss(),
                fake.cnops(),
                fake.inpe(),
                fake.inpe("establishment"),
                sex,
                list(fake.ma_first_name(sex)),
                list(fake.ma_family_name()),
                list(fake.ma_address()),
                fake.ma_phone(),
                fake.ma_phone("fixed"),
                fake.ma_birth_date(sex).isoformat(),
                age,
                fake.ma_coverage(age, sex=sex),
                fake.ma_region(),
            ]
        )
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    seed = sys.argv[1]
    sys.stdout.buffer.write(draws(int(seed) if seed.isdigit() else seed, int(sys.argv[2])).encode("utf-8"))
