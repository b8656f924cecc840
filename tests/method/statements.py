"""Statement files for the tests: camt.053 and camt.054 documents built entry by entry, CSV text."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

NS_02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
NS_08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
NS_054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


@dataclass
class Tx:
    amount: str | None = None
    currency: str = "EUR"
    unstructured: list[str] = field(default_factory=list)
    structured: list[str] = field(default_factory=list)
    servicer_ref: str | None = None
    end_to_end: str | None = None
    tx_id: str | None = None
    uetr: str | None = None
    payer: str | None = "A Payer"
    returned: bool = False

    def xml(self, *, version: str) -> str:
        parts = []
        refs = ""
        if self.servicer_ref:
            refs += f"<AcctSvcrRef>{escape(self.servicer_ref)}</AcctSvcrRef>"
        if self.end_to_end:
            refs += f"<EndToEndId>{escape(self.end_to_end)}</EndToEndId>"
        if self.tx_id:
            refs += f"<TxId>{escape(self.tx_id)}</TxId>"
        if self.uetr:
            refs += f"<UETR>{escape(self.uetr)}</UETR>"
        if refs:
            parts.append(f"<Refs>{refs}</Refs>")
        if self.amount is not None:
            amount = f'<Amt Ccy="{self.currency}">{self.amount}</Amt>'
            parts.append(amount if version != NS_02 else f"<AmtDtls><TxAmt>{amount}</TxAmt></AmtDtls>")
        if self.payer:
            name = f"<Nm>{escape(self.payer)}</Nm>"
            parts.append(
                f"<RltdPties><Dbtr>{f'<Pty>{name}</Pty>' if version != NS_02 else name}</Dbtr></RltdPties>"
            )
        remittance = "".join(f"<Ustrd>{escape(u)}</Ustrd>" for u in self.unstructured)
        remittance += "".join(
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
            f"<Ref>{escape(s)}</Ref></CdtrRefInf></Strd>"
            for s in self.structured
        )
        if remittance:
            parts.append(f"<RmtInf>{remittance}</RmtInf>")
        if self.returned:
            parts.append("<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>")
        return f"<TxDtls>{''.join(parts)}</TxDtls>"


@dataclass
class Entry:
    amount: str
    currency: str = "EUR"
    credit: bool = True
    status: str = "BOOK"
    reversal: bool = False
    servicer_ref: str | None = None
    entry_ref: str | None = None
    txs: list[Tx] = field(default_factory=list)
    info: str | None = None
    booked: str | None = "2026-11-21"
    value: str | None = "2026-11-21"
    booked_at: str | None = None
    """A booking date and time (``DtTm``), written instead of ``booked``."""

    def xml(self, *, version: str) -> str:
        status = f"<Sts><Cd>{self.status}</Cd></Sts>" if version != NS_02 else f"<Sts>{self.status}</Sts>"
        dates = f"<BookgDt><Dt>{self.booked}</Dt></BookgDt>" if self.booked else ""
        dates = f"<BookgDt><DtTm>{self.booked_at}</DtTm></BookgDt>" if self.booked_at else dates
        dates += f"<ValDt><Dt>{self.value}</Dt></ValDt>" if self.value else ""
        parts = [
            f"<NtryRef>{self.entry_ref}</NtryRef>" if self.entry_ref else "",
            f'<Amt Ccy="{self.currency}">{self.amount}</Amt>',
            f"<CdtDbtInd>{'CRDT' if self.credit else 'DBIT'}</CdtDbtInd>",
            "<RvslInd>true</RvslInd>" if self.reversal else "",
            status,
            dates,
            f"<AcctSvcrRef>{self.servicer_ref}</AcctSvcrRef>" if self.servicer_ref else "",
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>",
        ]
        if self.txs:
            batch = f"<Btch><NbOfTxs>{len(self.txs)}</NbOfTxs></Btch>" if len(self.txs) > 1 else ""
            parts.append(f"<NtryDtls>{batch}{''.join(t.xml(version=version) for t in self.txs)}</NtryDtls>")
        if self.info:
            parts.append(f"<AddtlNtryInf>{escape(self.info)}</AddtlNtryInf>")
        return f"<Ntry>{''.join(parts)}</Ntry>"


def camt053(
    *entries: Entry, version: str = NS_02, statement_id: str = "STMT-1", iban: str = "DE89370400440532013000"
) -> bytes:
    body = "".join(e.xml(version=version) for e in entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{version}"><BkToCstmrStmt>
<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-11-21T23:10:00</CreDtTm></GrpHdr>
<Stmt><Id>{statement_id}</Id><CreDtTm>2026-11-21T23:10:00</CreDtTm>
<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
{body}
</Stmt></BkToCstmrStmt></Document>""".encode()


def camt054(*entries: Entry, notification_id: str = "NTF-1", iban: str = "DE89370400440532013000") -> bytes:
    """A Bank-to-Customer Debit/Credit Notification: the same entries, sent as they are booked."""
    body = "".join(e.xml(version=NS_054) for e in entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS_054}"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>MSG-N1</MsgId><CreDtTm>2026-11-21T10:10:00</CreDtTm></GrpHdr>
<Ntfctn><Id>{notification_id}</Id><CreDtTm>2026-11-21T10:10:00</CreDtTm>
<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
{body}
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>""".encode()


def csv_text(*rows: str, header: str = "id,date,amount,currency,reference,payer") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()
