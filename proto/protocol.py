"""The wire protocol: framing, CRC, header, opcodes, status codes and payload layouts.

This module is the single definition used by the gateware (hdl), the host library and the golden
device; docs/protocol.md describes the same thing for people writing a driver elsewhere.

A *frame* on the wire is SLIP (RFC 1055): ``END`` (0xC0), the escaped body, ``END``. Inside the
body 0xC0 is sent as ``ESC ESC_END`` (0xDB 0xDC) and 0xDB as ``ESC ESC_ESC`` (0xDB 0xDD). The body
is ``header | payload | crc``: a 5-byte :data:`HEADER` (opcode, seq, status, length), ``length``
payload bytes, then CRC-16/CCITT-FALSE of header and payload, little-endian.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import re

__all__ = [
    "VERSION", "MAX_PAYLOAD", "RX_BUFFER", "HEADER_BYTES", "CRC_BYTES", "CRC_INIT", "CRC_POLY",
    "BUILD_ID", "END", "ESC", "ESC_END", "ESC_ESC", "ABORT",
    "KEEPALIVE_TICKS", "BITMAP_MARK",
    "Opcode", "Status", "ResetFlags", "Bytes", "HEADER", "INFO", "STATUS",
    "READ_REQ", "WRITE_REQ", "RUN_REQ", "RUN_REPLY", "SPIKES_HEAD", "PROBE_HEAD", "Frame",
    "crc16", "encode_frame", "Deframer", "varint", "spike_room", "spike_tick_bound",
    "SpikePacker", "parse_spikes", "spike_wire_bytes", "check_build_id", "info_payload", "c_header",
]

VERSION = 3                 # 2: the abort token; 3: delays, rules, probes, compact spikes
MAX_PAYLOAD = 512           # bytes; a longer payload is refused with BAD_LENGTH
RX_BUFFER = 1024            # bytes the device buffers while busy; a host keeps at most this
                            # many request bytes outstanding (more are lost and counted)
HEADER_BYTES = 5
CRC_BYTES = 2
CRC_INIT = 0xFFFF           # CRC-16/CCITT-FALSE: the register's value before a body's first byte
CRC_POLY = 0x1021
BUILD_ID = b"spikeloo"      # the default 8-byte build id a device reports in INFO

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD

# The abort token (docs/protocol.md, "Abort"): ESC followed by END never occurs in a valid SLIP
# stream, so the device can recognise it byte by byte as it arrives, ahead of its receive buffer,
# while it is busy with a RUN. It is not a frame: it has no reply of its own.
ABORT = bytes([ESC, END])


class Opcode(enum.IntEnum):
    """Request opcodes; a reply carries its request's opcode. Event frames have their own."""
    PING = 0x01     # reply echoes the payload
    INFO = 0x02     # reply: INFO layout
    RESET = 0x03    # payload: 1 byte of ResetFlags; reply: empty
    READ = 0x04     # payload: READ_REQ; reply: count words of the region
    WRITE = 0x05    # payload: WRITE_REQ then whole words; reply: empty
    INJECT = 0x06   # payload: u16 LE input indices; they spike in the next tick; reply: empty
    RUN = 0x07      # payload: RUN_REQ; SPIKES events per tick, then reply: RUN_REPLY
    STATUS = 0x08   # reply: STATUS layout
    SPIKES = 0x20   # event (device to host only): a batch of ticks, SPIKES_HEAD + spike codes
    PROBE = 0x21    # event (device to host only): after a sampled tick (and a flush of the
                    # spike stream), payload PROBE_HEAD + the probed state (proto/probes.py)


class Status(enum.IntEnum):
    """The status byte of a reply. Requests carry 0."""
    OK = 0
    BAD_FRAME = 1      # body shorter than header + CRC, or an invalid SLIP escape
    BAD_CRC = 2        # CRC mismatch: nothing was executed
    BAD_LENGTH = 3     # length field disagrees with the body, payload too long, or wrong
                       # payload size for the opcode
    BAD_OPCODE = 4     # unknown opcode
    BAD_REGION = 5     # READ/WRITE of a region that does not exist
    BAD_ADDRESS = 6    # words outside the region, or an INJECT index >= n_inputs
    BAD_VALUE = 7      # a written word has bits set above its layout width, bad RESET flags
    ABORTED = 8        # RUN reply only: stopped early by the abort token; payload RUN_REPLY
                       # still holds the ticks actually run


class ResetFlags(enum.IntFlag):
    STATE = 0x01     # V, I, refractory counters, traces, pending/last spikes := 0
    CONFIG = 0x02    # neuron parameters, weights, plasticity, STDP parameters := 0
    COUNTERS = 0x04  # STATUS counters and the overrun flag := 0


@dataclasses.dataclass(frozen=True)
class Bytes:
    """A byte-level layout: ``(name, nbytes)`` fields, each an unsigned little-endian integer."""
    fields: tuple

    def __init__(self, *fields):
        object.__setattr__(self, "fields", tuple(fields))

    @property
    def size(self) -> int:
        return sum(n for _, n in self.fields)

    def struct(self):
        """The equivalent ``amaranth.lib.data.StructLayout`` (imports Amaranth on demand): one
        unsigned field of ``8 * nbytes`` bits per byte field, in order. Amaranth numbers bits
        from the least significant one, so a view over the bytes in wire order (the first byte
        in bits 0..7) reads every little-endian field as its value."""
        from amaranth.hdl import unsigned
        from amaranth.lib import data
        return data.StructLayout({f: unsigned(8 * n) for f, n in self.fields})

    def offset(self, name: str) -> int:
        off = 0
        for f, n in self.fields:
            if f == name:
                return off
            off += n
        raise KeyError(name)

    def pack(self, **values) -> bytes:
        out = bytearray()
        for f, n in self.fields:
            v = values.pop(f, 0)
            if isinstance(v, (bytes, bytearray)):
                if len(v) != n:
                    raise ValueError(f"{f} must be {n} bytes, got {len(v)}")
                out += v
            else:
                out += int(v).to_bytes(n, "little")
        if values:
            raise TypeError(f"unknown fields {sorted(values)}")
        return bytes(out)

    def unpack(self, data: bytes) -> dict:
        if len(data) < self.size:
            raise ValueError(f"need {self.size} bytes, got {len(data)}")
        out, off = {}, 0
        for f, n in self.fields:
            out[f] = int.from_bytes(data[off:off + n], "little")
            off += n
        return out


HEADER = Bytes(("opcode", 1), ("seq", 1), ("status", 1), ("length", 2))

INFO = Bytes(
    ("version", 2), ("config_hash", 4),
    ("n_neurons", 2), ("n_inputs", 2),
    ("v_width", 1), ("i_width", 1), ("w_width", 1), ("trace_width", 1),
    ("refractory_width", 1), ("decay_frac", 1), ("stdp_frac", 1), ("weights_per_word", 1),
    ("clock_hz", 4), ("baud", 4), ("max_payload", 2), ("build_id", 8),
    ("theta_width", 1), ("inh_current", 1),     # the optional neuron features (0: off)
    ("delay_bits", 1), ("rule_bits", 1), ("probe_slots", 1),    # synapse/probe features
)

STATUS = Bytes(
    ("ticks", 4), ("spikes", 4), ("syn_events", 4), ("last_tick_cycles", 4),
    ("crc_errors", 2), ("frame_errors", 2), ("uart_errors", 2), ("rx_overflows", 2),
    ("overruns", 2), ("flags", 1),      # flags bit 0: an overrun happened since the last clear
)

READ_REQ = Bytes(("region", 1), ("addr", 4), ("count", 2))
WRITE_REQ = Bytes(("region", 1), ("addr", 4))            # followed by whole words
RUN_REQ = Bytes(("ticks", 4), ("period", 4))              # period: cycles per tick, 0 = flat out
RUN_REPLY = Bytes(("ticks", 4))
SPIKES_HEAD = Bytes(("tick", 4), ("ticks", 2))     # first tick covered, ticks covered

# The spike stream (docs/protocol.md section 5): a SPIKES event covers at most KEEPALIVE_TICKS
# ticks, so a silent RUN still sends a frame every KEEPALIVE_TICKS ticks (15 wire bytes: 0.06
# bytes per silent tick). BITMAP_MARK (a varint 0 written in two bytes, which a minimal varint
# never is) announces a tick sent as a bitmap.
KEEPALIVE_TICKS = 256
BITMAP_MARK = bytes([0x80, 0x00])
PROBE_HEAD = Bytes(("tick", 4))                            # followed by the probed values


@dataclasses.dataclass(frozen=True)
class Frame:
    opcode: int
    seq: int
    status: int = 0
    payload: bytes = b""


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE: poly :data:`CRC_POLY`, init :data:`CRC_INIT`, no reflection, no final
    xor. ``crc16(b"123456789") == 0x29B1``."""
    # binascii.crc_hqx is exactly this CRC (polynomial CRC_POLY, MSB first, given init), in C: a
    # Python loop per bit made loading a large image take tens of seconds
    return binascii.crc_hqx(bytes(data), crc)


def check_build_id(build_id) -> bytes:
    """``build_id`` as 8 bytes (the INFO field); ``TypeError``/``ValueError`` naming the value
    when it is not 8 bytes. The one validation of a build id (gateware and golden device)."""
    size = dict(INFO.fields)["build_id"]
    build_id = bytes(build_id)
    if len(build_id) != size:
        raise ValueError(f"build_id must be {size} bytes, got {len(build_id)}: {build_id!r}")
    return build_id


def info_payload(cfg, build_id: bytes = BUILD_ID) -> bytes:
    """The INFO reply payload of a device built with ``cfg`` (a ``proto.config.CoreConfig``)
    and ``build_id``: the one packing, used by the gateware (a ROM) and the golden device."""
    return INFO.pack(
        version=VERSION, config_hash=cfg.hash(), n_neurons=cfg.n_neurons,
        n_inputs=cfg.n_inputs, v_width=cfg.v_width, i_width=cfg.i_width, w_width=cfg.w_width,
        trace_width=cfg.trace_width, refractory_width=cfg.refractory_width,
        decay_frac=cfg.decay_frac, stdp_frac=cfg.stdp_frac,
        weights_per_word=cfg.weights_per_word, clock_hz=cfg.clock_hz, baud=cfg.baud,
        max_payload=MAX_PAYLOAD, build_id=check_build_id(build_id),
        theta_width=cfg.theta_width, inh_current=int(cfg.inh_current),
        delay_bits=cfg.delay_bits, rule_bits=cfg.rule_bits, probe_slots=cfg.probe_slots)


def c_header() -> str:
    """The wire constants as a C++ header (``sim/vboard.cpp`` includes it; the virtual board's
    build writes it from this function, so the harness restates nothing)."""
    lines = ["// Generated from spikeloom.proto.protocol by spikeloom.sim.vboard: do not edit.",
             "#pragma once", "#include <cstddef>", "#include <cstdint>", ""]

    def const(name, value, ctype="uint8_t"):
        lines.append(f"constexpr {ctype} {name} = 0x{value:X};")
    const("SLIP_END", END)
    const("SLIP_ESC", ESC)
    const("SLIP_ESC_END", ESC_END)
    const("SLIP_ESC_ESC", ESC_ESC)
    const("ABORT_FIRST", ABORT[0])
    const("ABORT_SECOND", ABORT[1])
    const("HEADER_BYTES", HEADER_BYTES, "unsigned")
    const("CRC_BYTES", CRC_BYTES, "unsigned")
    const("MAX_PAYLOAD", MAX_PAYLOAD, "unsigned")
    const("MAX_BODY", HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES, "size_t")
    const("CRC_INIT", CRC_INIT, "uint16_t")
    const("CRC_POLY", CRC_POLY, "uint16_t")
    const("RX_BUFFER", RX_BUFFER, "unsigned")
    for op in Opcode:
        const(f"OP_{op.name}", op.value)
    for st in Status:
        const(f"STATUS_{st.name}", st.value)
    return "\n".join(lines) + "\n"


def body_of(frame: Frame) -> bytes:
    head = HEADER.pack(opcode=frame.opcode, seq=frame.seq, status=frame.status,
                       length=len(frame.payload))
    body = head + bytes(frame.payload)
    return body + crc16(body).to_bytes(2, "little")


def encode_frame(frame: Frame) -> bytes:
    """The bytes on the wire for ``frame``: END, escaped body, END."""
    # ESC first, so that the ESCs inserted for END are not escaped again
    body = body_of(frame).replace(bytes([ESC]), bytes([ESC, ESC_ESC]))
    return bytes([END]) + body.replace(bytes([END]), bytes([ESC, ESC_END])) + bytes([END])


_SPECIAL = re.compile(b"[" + re.escape(bytes([END, ESC])) + b"]")


class Deframer:
    """Streaming SLIP decoder and frame checker.

    Feed bytes with :meth:`feed`; it returns a list of ``(frame, status)`` for every non-empty body
    completed by an END. ``status`` is :attr:`Status.OK` for a well-formed frame, else the error a
    device must answer with; ``frame`` then holds what could be recovered (opcode and seq from the
    header when at least a header arrived, else 0). Bodies longer than
    ``HEADER + max_payload + CRC`` stop being stored (memory stays bounded) and give BAD_LENGTH.

    The abort token :data:`ABORT` (an END where the second byte of an escape belongs) ends any
    partial body, which is discarded, and produces nothing; :attr:`aborts` counts the tokens
    consumed (the golden device clears its abort latch when it grows).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.limit = HEADER_BYTES + max_payload + CRC_BYTES
        self.aborts = 0
        self._reset()

    def _reset(self):
        self.buf = bytearray()
        self.escaped = False
        self.bad_escape = False
        self.overlong = False

    def feed(self, data: bytes) -> list[tuple[Frame, Status]]:
        out = []
        data = bytes(data)
        i, n = 0, len(data)
        while i < n:
            if not self.escaped:
                # a run of plain bytes is stored in one step (a byte loop made loads slow);
                # END and ESC take the byte-by-byte path below
                m = _SPECIAL.search(data, i)
                j = m.start() if m else n
                if j > i:
                    room = max(0, self.limit - len(self.buf))
                    self.buf += data[i:min(j, i + room)]
                    self.overlong |= j - i > room
                    i = j
                    continue
            b = data[i]
            i += 1
            if b == END:
                if self.escaped:                # ESC END: the abort token
                    self.aborts += 1
                elif self.buf or self.bad_escape or self.overlong:
                    out.append(self._finish())
                self._reset()
                continue
            if self.escaped:
                self.escaped = False
                if b == ESC_END:
                    b = END
                elif b == ESC_ESC:
                    b = ESC
                else:
                    self.bad_escape = True
                    continue
            elif b == ESC:
                self.escaped = True
                continue
            if len(self.buf) < self.limit:
                self.buf.append(b)
            else:
                self.overlong = True
        return out

    def _finish(self) -> tuple[Frame, Status]:
        body = bytes(self.buf)
        if self.bad_escape or self.escaped or len(body) < HEADER_BYTES + CRC_BYTES:
            return Frame(0, 0), Status.BAD_FRAME
        head = HEADER.unpack(body)
        if self.overlong:
            return Frame(head["opcode"], head["seq"]), Status.BAD_LENGTH
        crc = int.from_bytes(body[-2:], "little")
        frame = Frame(head["opcode"], head["seq"], head["status"], body[HEADER_BYTES:-2])
        if crc16(body[:-2]) != crc:
            return Frame(head["opcode"], head["seq"]), Status.BAD_CRC
        if head["length"] != len(frame.payload):
            return Frame(head["opcode"], head["seq"]), Status.BAD_LENGTH
        return frame, Status.OK


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a minimal LEB128 varint: 7 bits per byte, least significant first,
    bit 7 set on every byte but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def spike_room() -> int:
    """Bytes of spike codes a SPIKES payload may carry (after its head)."""
    return MAX_PAYLOAD - SPIKES_HEAD.size


def spike_tick_bound(n_neurons: int) -> int:
    """The most code bytes one tick can add to a SPIKES payload: its first varint (a gap of up to
    ``KEEPALIVE_TICKS * n_neurons - 1`` slots), then a bitmap (mark and ``ceil(N/8)`` bytes) or at
    most ``ceil(N/8) - 1`` more in-tick gaps. A batch is closed before a tick that might not fit
    (``length + bound > spike_room()``), so the rule needs no look-ahead in the gateware."""
    nmap = (n_neurons + 7) // 8
    first = len(varint(KEEPALIVE_TICKS * n_neurons - 1))
    return first + max(len(BITMAP_MARK) + nmap, (nmap - 1) * len(varint(n_neurons - 1)))


class SpikePacker:
    """The device side of the spike stream: ticks in, SPIKES payloads out (docs/protocol.md
    section 5). The golden device uses it; the gateware (``hdl.emit``) does the same byte for
    byte.

    :meth:`tick` adds one tick (the device's tick number and the neurons that fired, ascending)
    and returns the payloads it closed: the open batch before the tick when the tick might not
    fit (:func:`spike_tick_bound`), and the batch the tick completes when it covers
    :data:`KEEPALIVE_TICKS` ticks. :meth:`flush` closes the open batch (before a RUN reply or any
    other frame)."""

    def __init__(self, n_neurons: int):
        self.n = n_neurons
        self.nmap = (n_neurons + 7) // 8
        self.bound = spike_tick_bound(n_neurons)
        self.body = None            # the open batch's codes; None: no batch open
        self.first = self.ticks = self.run = 0

    def tick(self, tick: int, fired) -> list[bytes]:
        out = []
        if self.body is not None and len(self.body) + self.bound > spike_room():
            out += self.flush()
        if self.body is None:
            self.body, self.first, self.ticks, self.run = bytearray(), tick, 0, 0
        fired = [int(j) for j in fired]
        if len(fired) > self.nmap:
            bitmap = bytearray(self.nmap)
            for j in fired:
                bitmap[j // 8] |= 1 << (j % 8)
            self.body += BITMAP_MARK + varint(self.run) + bitmap
            self.run = 0
        else:
            expect = 0              # the tick's next slot after the last spike coded
            for j in fired:
                self.body += varint(self.run + j - expect)
                self.run, expect = 0, j + 1
            self.run += self.n - expect
        self.ticks += 1
        if self.ticks == KEEPALIVE_TICKS:
            out += self.flush()
        return out

    def flush(self) -> list[bytes]:
        if self.body is None:
            return []
        payload = SPIKES_HEAD.pack(tick=self.first, ticks=self.ticks) + bytes(self.body)
        self.body = None
        return [payload]


def spike_wire_bytes(n_neurons: int, ticks, first: int = 0, seq: int = 0) -> int:
    """Wire bytes (SLIP frames: escapes, header and CRC included) of the SPIKES events one RUN
    sends for ``ticks`` (per tick, the neurons that fired), the first numbered ``first``."""
    packer, total = SpikePacker(n_neurons), 0
    payloads = []
    for k, fired in enumerate(ticks):
        payloads += packer.tick((first + k) & 0xFFFFFFFF, fired)
    for payload in payloads + packer.flush():
        total += len(encode_frame(Frame(Opcode.SPIKES, seq, Status.OK, payload)))
    return total


def parse_spikes(payload: bytes, n_neurons: int) -> tuple[int, int, list[tuple[int, int]]]:
    """``(tick, ticks, spikes)`` from a SPIKES payload: the first tick covered, the number of
    ticks covered, and ``(tick offset, neuron)`` pairs in order. ValueError if malformed."""
    head = SPIKES_HEAD.unpack(payload)
    ticks, n, nmap = head["ticks"], n_neurons, (n_neurons + 7) // 8
    if ticks == 0:
        raise ValueError("a SPIKES event covers no tick")
    body, slots = payload[SPIKES_HEAD.size:], ticks * n_neurons
    out, pos, k = [], 0, 0

    def number():
        nonlocal k
        value, shift, start = 0, 0, k
        while True:
            if k >= len(body):
                raise ValueError("spike code cut short")
            byte = body[k]
            k += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte == 0 and k - start > 1:
                    raise ValueError("spike code is not a minimal varint")
                return value

    while k < len(body):
        if body[k:k + 2] == BITMAP_MARK:
            k += 2
            start = pos + number()
            if start % n or start >= slots or k + nmap > len(body):
                raise ValueError("misplaced or short spike bitmap")
            bitmap = body[k:k + nmap]
            k += nmap
            if n % 8 and bitmap[-1] >> (n % 8):
                raise ValueError("spike bitmap has bits past the last neuron")
            t = start // n
            out += [(t, j) for j in range(n) if bitmap[j // 8] >> (j % 8) & 1]
            pos = start + n
        else:
            slot = pos + number()
            if slot >= slots:
                raise ValueError("spike past the ticks the event covers")
            out.append(divmod(slot, n))
            pos = slot + 1
    return head["tick"], ticks, out
