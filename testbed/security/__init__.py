"""Security of the SMR and of the testbed: SMART Backend Services, TLS, secrets hygiene (SMR-T10, spec §8).

Layer: imports only ``testbed.core`` and third parties.

- ``keys``       client and issuer key pairs (joserfc JWKs), owner-only key files
- ``client``     discovery of the token endpoint, client assertions, token requests (client side)
- ``server``     client registry, token endpoint, access-token verification, principals (SMR side)
- ``scopes``     SMART v1 system scopes and :class:`Principal`
- ``tampering``  deliberately bad credentials for negative tests
- ``tls``        local CA, server/client TLS contexts, TLS probes of a vendor endpoint
- ``redact``     removing tokens, assertions and keys from evidence, logs and reports
"""
