"""A tiny authoritative DNS server on loopback: the records a test gives it, nothing else."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

Records = Mapping[str, Mapping[str, Sequence[str]]]  # name -> type -> values (TXT: plain text)


class DnsResponder:
    """Answers UDP queries on 127.0.0.1 from `records`: NXDOMAIN for an unknown name, an empty
    answer for a known name without that type. TXT values are given as plain text and split
    into strings of 255 bytes, as long DKIM keys are published. `failing`: SERVFAIL to all."""

    def __init__(self, records: Records, *, failing: bool = False) -> None:
        self._failing = failing  # answer SERVFAIL to everything: a broken resolver
        self._records = {
            dns.name.from_text(name): {
                kind.upper(): list(values) for kind, values in by_type.items()
            }
            for name, by_type in records.items()
        }
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)  # how soon the serving thread notices stop()
        self.port: int = self._socket.getsockname()[1]
        self.queries: list[tuple[str, str]] = []  # (name, type) of each question, in order
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-responder", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> DnsResponder:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # not a DNS query: a real server would drop it too
            self._socket.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self._failing:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        for question in query.question:
            kind = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((question.name.to_text(omit_final_dot=True), kind))
            by_type = self._records.get(question.name)
            if by_type is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            values = by_type.get(kind, [])
            if values:
                texts = [_txt(v) for v in values] if kind == "TXT" else values
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", kind, texts)
                )
        return response


def _txt(value: str) -> str:
    """Plain text as TXT presentation: quoted strings of at most 255 bytes each."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)
