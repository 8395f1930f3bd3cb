# amaranth: UnusedElaboratable=no
"""The dispatcher's parts working together in the RTL top, against the golden device, byte for
byte, on the sequences where they share something: the counter RAM that also holds the INFO ROM
(an INFO reply, then a RUN whose ticks overrun their period: the overrun count must land in the
counter, not in the ROM), and the payload buffer read by the decoder, the walker and the reply
path in turn (a WRITE, a READ back, a PING echo)."""

import pytest
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts
from spikeloom.proto.protocol import Frame, Opcode
from spikeloom.sim.device import GoldenDevice
from spikeloom.sim.rtlsim import Transport

pytestmark = pytest.mark.rtl

CFG = preset("tiny").replace(baud=250_000)


def enc(op, seq, payload=b""):
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def test_info_then_an_overrunning_run_counts_the_overrun():
    rtl, gold = Transport(CFG), GoldenDevice(CFG)
    run = P.RUN_REQ.pack(ticks=2, period=1)     # every tick takes more than one cycle
    status = None
    for data in (enc(Opcode.INFO, 1), enc(Opcode.RUN, 2, run), enc(Opcode.STATUS, 3),
                 enc(Opcode.INFO, 4)):
        got, want = rtl.exchange(data, max_cycles=200_000), gold.feed(data)
        assert got == want, data.hex()
        if data == enc(Opcode.STATUS, 3):
            (frame, _), = P.Deframer(1 << 16).feed(got)
            status = P.STATUS.unpack(frame.payload)
    assert status["overruns"] == 2 and status["flags"] & 1, status


def test_buffer_readers_take_turns():
    rtl, gold = Transport(CFG), GoldenDevice(CFG)
    region, lay = next((r, lay) for r, lay in layouts(CFG).items() if r != Region.SPIKES)
    words = bytes(range(1, 1 + 3 * lay.nbytes))
    for w in range(3):      # keep each word inside its layout width
        words = words[:w * lay.nbytes + lay.nbytes - 1] + b"\0" + words[(w + 1) * lay.nbytes:]
    seq = [enc(Opcode.WRITE, 1, P.WRITE_REQ.pack(region=region, addr=0) + words),
           enc(Opcode.READ, 2, P.READ_REQ.pack(region=region, addr=0, count=3)),
           enc(Opcode.PING, 3, b"\xC0\xDB echo"), enc(Opcode.INJECT, 4, b"\x01\x00")]
    for data in seq:
        got, want = rtl.exchange(data, max_cycles=200_000), gold.feed(data)
        assert got == want, data.hex()
