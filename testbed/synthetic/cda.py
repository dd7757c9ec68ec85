"""CDA R2 rendering of a synthetic patient: one document per :class:`DocumentRecord` (spec §6).

The document and section templates, LOINC codes, French titles and code system OIDs come from the CDA
content (``profiles/<folder>/cda.yaml``, a Jinja2 template rendered with the national names); identifier
roots come from :class:`~testbed.national.NationalContent`. The engine writes no national OID.

Choices written down:

- ``ClinicalDocument/id`` and ``setId``: root = a UUID derived from the record (seed and patient id),
  extension = ``DocumentRecord.id``; entries use the same root with their record id as extension.
- Patient ids in this order: INS, CNIE, residence permit, passport, CNSS, CNOPS, local record numbers.
- Names: the Latin form first (``use="L"``); the Arabic form, when known, as a second ``name`` (HL7 v3
  names carry no script: FHIR's ``ma-name-script`` extension has no CDA counterpart).
- A deceased patient gets ``sdtc:deceasedInd`` / ``sdtc:deceasedTime`` (SDTC extension).
- Bytes are deterministic: no clock, no random draw; the same record gives the same bytes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from lxml import etree

from testbed.cdacontent import CdaContent, DocumentSpec
from testbed.core.errors import PackageError
from testbed.national import NationalContent
from testbed.synthetic import _cda_body as body
from testbed.synthetic._cda_body import SDTC, V3, XSI, el, names, person_name, ts
from testbed.synthetic.model import Establishment
from testbed.synthetic.record import DocumentRecord, Entry, PatientRecord

_NSMAP = {None: V3, "sdtc": SDTC, "xsi": XSI}
_GENDER = {"male": ("M", "Masculin"), "female": ("F", "Féminin")}
_V3_OIDS = {  # HL7 v3 code systems of the header (international OIDs, not national names)
    "gender": "2.16.840.1.113883.5.1",
    "marital": "2.16.840.1.113883.5.2",
    "actcode": "2.16.840.1.113883.5.4",
    "confidentiality": "2.16.840.1.113883.5.25",
}
_CDA_TYPE_ID = ("2.16.840.1.113883.1.3", "POCD_HD000040")


class CdaRenderer:
    """Renders the documents of a :class:`PatientRecord` as CDA R2 XML (UTF-8 bytes).

    Args:
        national: The national names (identifier OIDs, CDA template root, local arcs).
        content: The CDA content folder holding ``cda.yaml`` (default: the first folder of ``profiles/``
            that has one).

    Raises:
        PackageError: the CDA content cannot be found or read.
    """

    def __init__(self, national: NationalContent, *, content: Path | None = None) -> None:
        self.national = national
        self.content = CdaContent.load(national, content)
        self.header_template = self.content.header.template
        self.doc_types = self.content.documents
        self.realm = national.realm_code or national.country_code

    def documents(self, record: PatientRecord) -> list[tuple[DocumentRecord, bytes]]:
        """One CDA document per document of the record, in the record's order."""
        return [(doc, self.render(record, doc)) for doc in record.documents]

    def render(self, record: PatientRecord, doc: DocumentRecord) -> bytes:
        """The CDA document of one :class:`DocumentRecord` of the record.

        Raises:
            ValueError: the document type is not in the CDA content, an entry has no section to go in,
                or a code's system has no OID in the content.
        """
        spec = self.doc_types.get(doc.type)
        if spec is None:
            raise ValueError(
                f"document {doc.id}: type '{doc.type}' is not a CDA document type of the content"
            )
        root_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:testbed:synthetic:{record.seed}:{record.id}"))
        cda = etree.Element(f"{{{V3}}}ClinicalDocument", nsmap=_NSMAP)
        cda.addprevious(
            etree.Comment(
                f" Document synthétique généré par testbed (graine {record.seed}, patient {record.id}) : "
                "aucune personne réelle. "
            )
        )
        el(cda, "realmCode", code=self.realm)
        el(cda, "typeId", root=_CDA_TYPE_ID[0], extension=_CDA_TYPE_ID[1])
        el(cda, "templateId", root=self.header_template)
        el(cda, "templateId", root=spec.template)
        el(cda, "id", root=root_uid, extension=doc.id)
        el(
            cda,
            "code",
            code=spec.code,
            codeSystem=self.oid("http://loinc.org"),
            codeSystemName="LOINC",
            displayName=spec.display,
        )
        el(cda, "title", text=doc.title or spec.title)
        el(cda, "effectiveTime", value=ts(doc.created))
        el(cda, "confidentialityCode", code=doc.confidentiality, codeSystem=_V3_OIDS["confidentiality"])
        el(cda, "languageCode", code=doc.language)
        el(cda, "setId", root=root_uid, extension=doc.id)
        el(cda, "versionNumber", value="1")
        self._record_target(cda, record)
        author = el(cda, "author")
        el(author, "time", value=ts(doc.created))
        assigned = el(author, "assignedAuthor")
        self.inpe(assigned, doc.author.inpe)
        if doc.author.phone:
            el(assigned, "telecom", use="WP", value=f"tel:{doc.author.phone}")
        person_name(el(assigned, "assignedPerson"), doc.author)
        if doc.author.establishment == doc.custodian.inpe:
            org = el(assigned, "representedOrganization")
            self.inpe(org, doc.custodian.inpe)
            el(org, "name", text=doc.custodian.name)
        custodian = el(el(el(cda, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
        self._organization(custodian, doc.custodian)
        legal = el(cda, "legalAuthenticator")
        el(legal, "time", value=ts(doc.created))
        el(legal, "signatureCode", code="S")
        entity = el(legal, "assignedEntity")
        self.inpe(entity, doc.author.inpe)
        person_name(el(entity, "assignedPerson"), doc.author)
        self._encounter(cda, record, doc)
        structured = el(el(cda, "component"), "structuredBody")
        self._body(structured, record, doc, spec, root_uid)
        return etree.tostring(cda.getroottree(), xml_declaration=True, encoding="UTF-8", pretty_print=True)

    # ----------------------------------------------------------------------------------------- header

    def oid(self, system: str) -> str:
        """The OID of a FHIR code system URI, from the CDA content."""
        oid = self.content.oid_of(system)
        if oid is None:
            raise ValueError(f"code system '{system}' has no OID in the CDA content (cda.yaml codeSystems)")
        return oid

    def inpe(self, parent: etree._Element, value: str) -> None:
        """Append an ``id`` carrying an INPE."""
        el(parent, "id", root=self._root("inpe"), extension=value)

    def _root(self, key: str) -> str:
        oid = self.national.identifier(key).oid
        if not oid:
            raise PackageError(f"{self.national.package}: the NamingSystem of '{key}' declares no OID.")
        return oid

    def _record_target(self, cda: etree._Element, record: PatientRecord) -> None:
        role = el(el(cda, "recordTarget"), "patientRole")
        ident = record.identity
        for key, value in (("ins", ident.ins), ("cnie", ident.cnie), ("carte_sejour", ident.carte_sejour)):
            if value:
                el(role, "id", root=self._root(key), extension=value)
        if ident.passport:
            el(
                role,
                "id",
                root=_oid(self.national.passport_system(ident.passport[0])),
                extension=ident.passport[1],
            )
        for key, value in (("cnss", ident.cnss), ("cnops", ident.cnops)):
            if value:
                el(role, "id", root=self._root(key), extension=value)
        for facility, number in ident.local:
            el(role, "id", root=_oid(self.national.local_system(facility)), extension=number)
        addr = el(role, "addr", use="H")
        el(addr, "streetAddressLine", text=record.address.line)
        el(addr, "city", text=record.address.city)
        el(addr, "postalCode", text=record.address.postal_code)
        el(addr, "county", text=record.address.province)
        el(addr, "state", text=record.address.region_code)
        el(addr, "country", text=self.national.country_code)
        if record.phone:
            el(role, "telecom", use="MC", value=f"tel:{record.phone}")
        patient = el(role, "patient")
        names(patient, record.family, record.given)
        gender = _GENDER.get(record.sex)
        if gender:
            el(
                patient,
                "administrativeGenderCode",
                code=gender[0],
                codeSystem=_V3_OIDS["gender"],
                displayName=gender[1],
            )
        else:
            el(patient, "administrativeGenderCode", nullFlavor="UNK")
        el(patient, "birthTime", value=ts(record.birth_date))
        if record.deceased is not None:
            etree.SubElement(patient, f"{{{SDTC}}}deceasedInd", value="true")
            etree.SubElement(patient, f"{{{SDTC}}}deceasedTime", value=ts(record.deceased))
        if len(record.marital_status) == 1 and record.marital_status.isalpha():
            el(patient, "maritalStatusCode", code=record.marital_status, codeSystem=_V3_OIDS["marital"])
        if record.language:
            el(el(patient, "languageCommunication"), "languageCode", code=record.language)

    def _organization(self, parent: etree._Element, est: Establishment) -> None:
        self.inpe(parent, est.inpe)
        el(parent, "name", text=est.name)
        if est.phone:
            el(parent, "telecom", use="WP", value=f"tel:{est.phone}")
        addr = el(parent, "addr", use="WP")
        el(addr, "streetAddressLine", text=est.line)
        el(addr, "city", text=est.city)
        el(addr, "postalCode", text=est.postal_code)
        el(addr, "country", text=self.national.country_code)

    def _encounter(self, cda: etree._Element, record: PatientRecord, doc: DocumentRecord) -> None:
        try:
            enc = record.encounter(doc.encounter_id)
        except KeyError:
            return
        node = el(el(cda, "componentOf"), "encompassingEncounter")
        el(
            node,
            "id",
            root=_oid(self.national.local_system(enc.establishment.inpe)),
            extension=enc.visit_number,
        )
        el(node, "code", code=enc.klass, codeSystem=_V3_OIDS["actcode"])
        period = el(node, "effectiveTime")
        el(period, "low", value=ts(enc.start))
        if enc.end is not None:
            el(period, "high", value=ts(enc.end))
        party = el(el(node, "responsibleParty"), "assignedEntity")
        self.inpe(party, enc.practitioner.inpe)
        person_name(el(party, "assignedPerson"), enc.practitioner)
        facility = el(el(node, "location"), "healthCareFacility")
        self._organization(el(facility, "serviceProviderOrganization"), enc.establishment)

    # ------------------------------------------------------------------------------------------- body

    def _body(
        self,
        structured: etree._Element,
        record: PatientRecord,
        doc: DocumentRecord,
        spec: DocumentSpec,
        uid: str,
    ) -> None:
        placed: dict[str, list[Entry]] = {s.key: [] for s in spec.sections}
        for entry in record.entries(doc.entry_ids):
            kind = body.kind_of(entry)
            target = next((s for s in spec.sections if kind in s.entries), None)
            if target is None:
                raise ValueError(
                    f"document {doc.id} ({doc.type}): no section of the CDA content takes {kind} entries "
                    f"(entry {entry.id}); add one to cda.yaml"
                )
            placed[target.key].append(entry)
        writer = body.BodyWriter(self, uid)
        for section in spec.sections:
            entries = placed[section.key]
            if section.entries and not entries and not section.required:
                continue
            node = el(el(structured, "component"), "section")
            el(node, "templateId", root=section.template)
            el(
                node,
                "code",
                code=section.code,
                codeSystem=self.oid("http://loinc.org"),
                codeSystemName="LOINC",
                displayName=section.display,
            )
            el(node, "title", text=section.title)
            if section.entries:
                writer.section(node, section.entries, entries)
            else:
                writer.narrative_only(node, section.key, record, doc)


def _oid(system: str) -> str:
    return system.removeprefix("urn:oid:")
