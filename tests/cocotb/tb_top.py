"""cocotb tests of ``spikeloom_top`` (the whole device: UART pins in, UART pins out).

Every test drives the pins with cocotbext-uart (or bit-bangs ``uart_rx`` for malformed
characters) and requires the RTL's output bytes to equal :class:`GoldenDevice`'s for the same
input bytes (tb_env.Bench.transact). Tests run in file order in one simulator process; each one
starts from a hardware reset plus RESET 0x07, so any test can be run alone
(``COCOTB_TEST_FILTER``). ``test_random_sessions`` runs one random session per seed in
``SPIKELOOM_TB_SEEDS``; ``test_coverage_report`` (last) writes the coverage JSON and table and,
with ``SPIKELOOM_TB_REQUIRE_FULL=1``, fails on any coverage hole.
"""

from __future__ import annotations

import cocotb
import numpy as np
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, probe_fields, region_words, regions
from spikeloom.proto.protocol import Frame, Opcode
from tb_env import COVERAGE, Bench, char_bits, settings
from tb_stimulus import Requests, batches, random_delays, random_network, random_session

__all__ = []


async def bench(dut) -> Bench:
    b = Bench(dut)
    await b.start()
    return b


def _slip(body: bytes) -> bytes:
    """SLIP-escape a hand-made body (only for deliberately malformed frames)."""
    out = bytearray([P.END])
    for x in body:
        out += {P.END: bytes([P.ESC, P.ESC_END]), P.ESC: bytes([P.ESC, P.ESC_ESC])}.get(
            x, bytes([x]))
    return bytes(out + bytes([P.END]))


def _stdp_network(cfg, rng, *, enable=1):
    """A network whose first ticks depress, potentiate and clip at both bounds."""
    net = random_network(cfg, rng)
    n, m = cfg.n_neurons, cfg.n_inputs
    whi = (1 << (cfg.w_width - 1)) - 1
    w = net["weights"]
    w[:m] = whi                            # inputs drive every neuron hard, above w_max
    w[m:] = -(whi // 2)                    # recurrent rows below w_min: depression clips
    net["plastic"] = rng.random((cfg.n_sources, n)) < 0.5
    net["params"].update(threshold=np.full(n, whi // 2), bias=np.zeros(n, int),
                         refractory=np.full(n, 1), reset_subtract=np.arange(n) % 2,
                         alpha_syn=np.zeros(n, int))
    one = 1 << cfg.decay_frac
    net["stdp"] = {"enable": enable, "a_plus": 1 << cfg.stdp_frac, "a_minus": 1 << cfg.stdp_frac,
                   "pre_jump": 40, "post_jump": 40, "alpha_pre": one * 7 // 8,
                   "alpha_post": one * 7 // 8, "w_min": -(whi // 4), "w_max": whi // 4}
    return net


def _read_all(rq: Requests) -> list[bytes]:
    return [f for r in regions(rq.cfg) for f in rq.read(r)]


@cocotb.test()
async def test_handshake(dut):
    """INFO and PING: every byte value through the escaper, empty and maximal payloads."""
    b = await bench(dut)
    rq = b.rq
    await b.transact([rq.info(), rq.ping(b"hi"), rq.ping(b""), rq.status()])
    await b.transact(rq.ping(bytes(range(256)) * 2))            # 512 bytes, every value
    await b.transact(rq.ping(bytes([P.END, P.ESC] * 16)))       # every byte escaped
    await b.transact([rq.frame(Opcode.INFO), b"\xc0\xc0", rq.info()])
    await b.finish()


@cocotb.test()
async def test_load_network(dut):
    """WRITE every region (params, weights, plasticity, STDP, state, traces, spikes), READ it all
    back, in maximal and in single-word frames."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(11)
    net = random_network(cfg, rng)
    for batch in batches(rq.load(net)):
        await b.transact(batch)
    n, s = cfg.n_neurons, cfg.n_sources
    await b.transact([*rq.write_fields(Region.NEURON_STATE, {
        "v": rng.integers(-300, 300, n), "i": rng.integers(-300, 300, n),
        "ref": rng.integers(0, 4, n)}),
        *rq.write_fields(Region.PRE_TRACE, {"x": rng.integers(0, 1 << cfg.trace_width, s)}),
        *rq.write_fields(Region.POST_TRACE, {"y": rng.integers(0, 1 << cfg.trace_width, n)}),
        *rq.write_fields(Region.SPIKES, {"s": rng.integers(0, 2, s)})])
    for batch in batches(_read_all(rq)):
        await b.transact(batch)
    # word by word at odd addresses, and count 0
    for region in regions(cfg):
        words = region_words(cfg, region)
        a = int(rng.integers(0, words))
        await b.transact([*rq.read(region, a, 1), *rq.read(region, a, 0),
                          *rq.read(region, words - 1, 1)])
    await b.finish()


@cocotb.test()
async def test_run_inputs(dut):
    """INJECT + RUN on a loaded network: both reset modes, refractoriness, LIST/BITMAP/empty
    events, RUN 0, periods that are met and periods that overrun."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(12)
    net = random_network(cfg, rng)
    net["stdp"]["enable"] = 0
    for batch in batches(rq.load(net)):
        await b.transact(batch)
    await b.transact([rq.run(0), rq.run(2)])
    for t in range(8):
        k = int(rng.integers(0, cfg.n_inputs + 1))
        await b.transact([rq.inject(rng.choice(cfg.n_inputs, k)), rq.run(1 + t % 3)])
    # periods: one generous (met), one shorter than any tick (overrun)
    await b.transact([rq.inject(range(cfg.n_inputs)), rq.run(3, 10_000), rq.status()])
    await b.transact([rq.inject([0]), rq.run(3, 5), rq.status()])
    # nothing at all: a quiet network gives empty events
    await b.transact([rq.reset(0x03), rq.run(2), *rq.read(Region.NEURON_STATE)])
    await b.finish()


@cocotb.test()
async def test_stdp_learning(dut):
    """STDP on: depression, potentiation, clipping at w_min and w_max, synapses with plastic = 0;
    then STDP off (global disable); weights and traces read back after each phase."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(13)
    net = _stdp_network(cfg, rng)
    for batch in batches(rq.load(net)):
        await b.transact(batch)
    for t in range(4):
        await b.transact([rq.inject(range(t % 2, cfg.n_inputs, 2)), rq.run(2)])
        for batch in batches([*rq.read(Region.WEIGHTS), *rq.read(Region.PRE_TRACE),
                              *rq.read(Region.POST_TRACE)]):
            await b.transact(batch)
    off = dict(net["stdp"], enable=0)
    await b.transact([*rq.write_fields(Region.STDP_PARAMS, off), rq.inject(range(cfg.n_inputs)),
                      rq.run(3), *rq.read(Region.WEIGHTS)])
    await b.finish()


@cocotb.test()
async def test_reset(dut):
    """RESET with every flag combination after a network ran; bad flags change nothing."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(14)
    loaded = False
    for flags in (0, 1, 4, 2, 7, 0x88):
        if not loaded:                  # (again) after a RESET CONFIG
            for batch in batches(rq.load(_stdp_network(cfg, rng))):
                await b.transact(batch)
            loaded = True
        await b.transact([rq.inject(range(cfg.n_inputs)), rq.run(2), rq.inject([0])])
        await b.transact([rq.reset(flags), rq.status()])
        loaded = loaded and not (flags & 0x02 and flags < 8)
        if flags == 7:      # everything: every word must be zero
            reads = _read_all(rq)
        else:               # the first and last words of every region tell what was cleared
            reads = [f for r in regions(cfg) for a in {0, region_words(cfg, r) - 1}
                     for f in rq.read(r, a, 1)]
        for batch in batches(reads):
            await b.transact(batch)
        await b.transact([rq.run(1), rq.status()])
    await b.finish()


@cocotb.test()
async def test_status_counters(dut):
    """STATUS after ticks, spikes, synaptic events, CRC and framing errors, overruns; RESET
    COUNTERS clears all of it."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(15)
    for batch in batches(rq.load(random_network(cfg, rng))):
        await b.transact(batch)
    await b.transact([rq.inject(range(cfg.n_inputs)), rq.run(4), rq.status()])
    bad_crc = bytearray(rq.ping(b"AB"))
    bad_crc[6] ^= 0x01
    await b.transact([bytes(bad_crc), b"\xc0\x01\x02\xc0", rq.status()])
    await b.transact([rq.inject([1]), rq.run(2, 3), rq.status(), rq.reset(4), rq.status()])
    await b.finish()


@cocotb.test()
async def test_framing_errors(dut):
    """Every framing error and every refused request; the next good frame works each time."""
    b = await bench(dut)
    rq, rng = b.rq, np.random.default_rng(16)
    good = P.body_of(Frame(Opcode.PING, 7, 0, b"xyz"))
    cases = [
        bytes([P.END, 0x01, P.ESC, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, P.END]),  # invalid escape
        bytes([P.END]) + good[:4] + P.ABORT,                      # cut short by the abort token
        bytes([P.END, 0x01, 0x02, 0x03, P.END]),                                  # short body
        rq.ping(bytes(P.MAX_PAYLOAD + 1)),                                        # overlong
        _slip(good[:-2] + bytes([good[-2] ^ 0xFF, good[-1]])),                    # bad CRC
    ]
    head = bytearray(P.body_of(Frame(Opcode.PING, 9, 0, b"abcd"))[:-2])
    head[3] = 3                                                     # length 3, payload 4
    cases.append(_slip(bytes(head) + P.crc16(bytes(head)).to_bytes(2, "little")))
    for case in cases:
        await b.transact([case, rq.ping(b"ok")])
    for kind in range(15):
        reqs = []
        for _ in range(2):
            reqs.append(rq.bad(_Fixed(rng, kind)))
        await b.transact([*reqs, rq.ping(b"ok")])
    await b.transact([rq.frame(Opcode.SPIKES, bytes(5)), rq.frame(Opcode.PROBE, bytes(4)),
                      rq.frame(0x7F), rq.status()])
    await b.finish()


class _Fixed:
    """An rng whose first ``integers`` draw is ``kind`` (to pick Requests.bad's case)."""

    def __init__(self, rng, kind):
        self.rng, self.kind = rng, kind
        self.first = True

    def integers(self, *a, **k):
        if self.first and a == (0, 15):
            self.first = False
            return self.kind
        return self.rng.integers(*a, **k)

    def choice(self, *a, **k):
        return self.rng.choice(*a, **k)


@cocotb.test()
async def test_wire_abuse(dut):
    """Bad stop bits, breaks, garbage, bursts at line rate, +-3 % baud, grossly wrong baud: the
    device counts or reports the error, and the next good frame works."""
    b = await bench(dut)
    rq, cov = b.rq, b.cov
    rng = np.random.default_rng(17)

    # a byte with a 0 stop bit inside a frame: the receiver drops it and counts it
    frame = rq.ping(b"stop-bit")
    k = 4
    levels = [lv for x in frame[:k] for lv in char_bits(x)] + char_bits(frame[k], stop=0) + [1]
    levels += [lv for x in frame[k + 1:] for lv in char_bits(x)]
    b.sb.uart_error()
    expected = b.sb.expect(frame[:k] + frame[k + 1:])
    await b.bitbang(levels)
    got = await b.collect(len(expected))
    assert got == expected, b.mismatch(frame, expected, got)
    cov.hit("wire.bad_stop_bit")
    await b.transact([rq.ping(b"after stop bit"), rq.status()])

    # a break (line low for 40 bit times) in the middle of a frame, and one between frames
    frame = rq.ping(b"break")
    levels = [lv for x in frame[:6] for lv in char_bits(x)] + [0] * 40 + [1, 1]
    levels += [lv for x in frame[6:] for lv in char_bits(x)]
    b.sb.uart_error()
    expected = b.sb.expect(frame[:6] + frame[6:])
    await b.bitbang(levels)
    got = await b.collect(len(expected))
    assert got == expected, b.mismatch(frame, expected, got)
    b.sb.uart_error()
    await b.bitbang([0] * 100 + [1] * 3)
    cov.hit("wire.break")
    await b.transact([rq.ping(b"after break"), rq.status()])

    # garbage (well-formed characters), then frames
    for _ in range(3):
        junk = rng.integers(0, 256, int(rng.integers(1, 60)), np.uint8).tobytes()
        await b.transact([junk, rq.ping(b"after garbage"), rq.status()])
    await b.transact(bytes([P.END]) + rng.integers(0, 256, 30, np.uint8).tobytes())
    cov.hit("wire.garbage")

    # a burst at line rate: many pipelined requests, back to back (within RX_BUFFER)
    burst = [rq.ping(bytes([i]) * 8) for i in range(16)] + [rq.info(), rq.status()]
    burst += [rq.inject([0]), rq.run(3)] + [rq.ping(b"z")] * 5
    await b.transact(burst)
    cov.hit("wire.burst")

    # +-3 %: every character of the frames off by 3 %; received correctly
    for factor, item in ((1 / 1.03, "wire.baud_fast_3pct"), (1.03, "wire.baud_slow_3pct")):
        frames = rq.ping(bytes(range(0, 256, 7))) + rq.status()
        expected = b.sb.expect(frames)
        await b.bitbang([lv for x in frames for lv in char_bits(x)], round(b.bit_ps * factor))
        got = await b.collect(len(expected))
        assert got == expected, b.mismatch(frames, expected, got) + f"\n(baud x {1 / factor})"
        cov.hit(item)

    # grossly wrong: whatever arrives must be refused or counted; the line then recovers
    for factor in (2.0, 0.5, 1 / 1.6):
        before = await b.rtl_status()
        frames = rq.ping(b"gross") + rq.status()
        await b.bitbang([lv for x in frames for lv in char_bits(x)], round(b.bit_ps * factor))
        replies = await b.collect_frames(10, idle_bytes=30)
        await b.send_raw(bytes([P.END]))                    # flush a partial body
        replies += await b.collect_frames(10, idle_bytes=30)
        after = await b.rtl_status()
        errs = {k: after[k] - before[k] for k in ("crc_errors", "frame_errors", "uart_errors")}
        assert all(s != P.Status.OK or f.status != P.Status.OK for f, s in replies), (
            f"a frame sent at {1 / factor:.2f} x baud was executed: {replies}")
        assert sum(errs.values()) > 0, f"{1 / factor:.2f} x baud went unnoticed: {errs}"
        b.sb.adopt_error_counters(after)
        await b.transact([rq.ping(b"after gross"), rq.status()])
    cov.hit("wire.baud_gross")
    await b.finish()


@cocotb.test()
async def test_rx_overflow(dut):
    """More than RX_BUFFER request bytes while the device is busy sending a RUN's events: the
    RUN's output is still exact, overflowing bytes are counted in rx_overflows, the damaged
    frames are answered with errors (never executed), intact ones normally, and the link
    recovers."""
    b = await bench(dut)
    rq = b.rq
    # unconfigured: every neuron fires each tick; paced (1500 cycles a tick, 135k in all) so the
    # device is still busy with the RUN when the ~88k cycles of WRITEs below overflow its buffer
    run = rq.run(90, 1500)
    # long requests with short replies: WRITEs of zeros over the (zero) neuron parameters, so
    # whichever of them survive change nothing the golden device would need to know
    nb = b.sb.golden.layouts[Region.NEURON_PARAMS].nbytes
    writes = [rq.write(Region.NEURON_PARAMS, bytes(4 * nb))[0] for _ in range(26)]
    assert sum(map(len, writes)) > P.RX_BUFFER
    expected_run = b.sb.expect(run)
    await b.source.write(run + b"".join(writes))
    got = await b.collect(len(expected_run))
    assert got == expected_run, b.mismatch(run, expected_run, got)
    frames = await b.collect_frames(len(writes), idle_bytes=100)
    await b.send_raw(bytes([P.END]))      # the last frame lost its END: flush it (BAD_CRC)
    frames += await b.collect_frames(len(writes), idle_bytes=40)
    assert all(s == P.Status.OK for _, s in frames), f"malformed output frame: {frames}"
    replies = [f for f, _ in frames]
    ok = [f for f in replies if f.status == P.Status.OK]
    assert ok and len(ok) < len(writes), f"{len(ok)} of {len(writes)} WRITEs answered OK"
    seqs = [P.Deframer().feed(p)[0][0].seq for p in writes]
    for f in ok:
        assert f.opcode == Opcode.WRITE and f.seq in seqs and not f.payload, f"bad reply {f}"
    for f in replies:
        assert f.status in (P.Status.OK, P.Status.BAD_CRC, P.Status.BAD_FRAME,
                            P.Status.BAD_LENGTH), f"unexpected reply {f}"
    status = await b.rtl_status()
    assert status["rx_overflows"] > 0, status
    b.sb.adopt_error_counters(status)
    b.cov.hit("wire.rx_overflow")
    await b.transact([rq.ping(b"after overflow"), rq.status()])
    await b.finish()


@cocotb.test()
async def test_abort(dut):
    """The abort token while a RUN streams its events: the RUN stops at a tick boundary with
    status ABORTED and the ticks run, a RUN queued behind it runs no tick, requests after the
    token run normally; byte-identical with the golden device stopped after the k ticks the RTL
    reports (``write(RUN); read(max_ticks=k); write(rest); read()``)."""
    b = await bench(dut)
    rq = b.rq

    def frames(data):
        return [f for f, _ in P.Deframer(0xFFFF).feed(bytes(data))]

    head = rq.run(1_000_000)
    tail = rq.run(5) + rq.ping(b"queued") + P.ABORT + rq.ping(b"after abort")
    await b.source.write(head)
    got = bytearray()
    while not any(f.opcode == Opcode.SPIKES for f in frames(got)):     # a batch of ticks
        got += await b.collect(1)
    await b.source.write(tail)
    got += await b.collect()
    runs = [f for f in frames(got) if f.opcode == Opcode.RUN]
    k = P.RUN_REPLY.unpack(runs[0].payload)["ticks"]
    gold = b.sb.golden
    gold.write(head)
    want = gold.read(max_ticks=k)
    gold.write(tail)
    want += gold.read()
    assert bytes(got) == want, b.mismatch(head + tail, want, bytes(got))
    assert [(f.status, P.RUN_REPLY.unpack(f.payload)["ticks"]) for f in runs] == \
        [(P.Status.ABORTED, k), (P.Status.ABORTED, 0)] and k >= 3, runs
    b.cov.hit("abort.run_stopped")
    b.cov.hit("abort.queued_run")
    b.cov.hit("status.ABORTED", 2)
    await b.transact([rq.status()])
    await b.finish()


@cocotb.test()
async def test_delays_and_probes(dut):
    """Per-synapse delays: inputs every tick through every delay value, so the ring turns all
    the way round with weights in flight; a WRITE of DELAYS and a RESET STATE while weights are
    in flight. State probes: every third tick across RUNs, a slot with every field next to a
    slot that is off, a slot past N, every slot off. A configuration without either feature
    has nothing to do here."""
    b = await bench(dut)
    cfg, rq, rng = b.cfg, b.rq, np.random.default_rng(18)
    if not (cfg.delay_bits or cfg.probe_slots):
        await b.finish()
        return
    net = random_network(cfg, rng)
    net["stdp"]["enable"] = 1
    if cfg.probe_slots:
        lay = layouts(cfg)[Region.PROBES]
        names = [f for f, _ in probe_fields(cfg)]

        def probes(slots, every):
            words = [lay.pack({"neuron": nrn, **dict.fromkeys(fields, 1)})
                     for nrn, fields in slots]
            words += [0] * (cfg.probe_slots - len(words))
            return words + [lay.pack({"neuron": every - 1})]
        setups = [probes([(1, names)], 3),                      # all fields, the rest off
                  probes([(cfg.n_neurons + 1, ["v"]), (0, names[:2])], 1),  # past N
                  probes([], 1)]                                # every slot off
        net["probes"] = setups[0]
    for batch in batches(rq.load(net)):
        await b.transact(batch)
    every_input = list(range(cfg.n_inputs))
    for phase in range(3):
        if cfg.probe_slots and phase:
            await b.transact(rq.write_words(Region.PROBES, setups[phase]))
        # one tick per RUN, inputs every tick: weights always in flight, probes across RUNs
        for t in range(12 if phase == 0 else 5):
            await b.transact([rq.inject(every_input), rq.run(1 + (t % 2))])
        if cfg.delay_bits and phase == 0:      # new delays while weights are in flight
            await b.transact([*rq.write_matrix(Region.DELAYS, random_delays(cfg, rng)),
                              rq.inject(every_input), rq.run(3)])
        if cfg.delay_bits and phase == 1:      # the ring is state: RESET STATE empties it
            await b.transact([rq.reset(0x01), rq.run(4), *rq.read(Region.NEURON_STATE)])
    reads = [*rq.read(Region.WEIGHTS), *rq.read(Region.NEURON_STATE)]
    reads += rq.read(Region.DELAYS) if cfg.delay_bits else []
    reads += rq.read(Region.PROBES) if cfg.probe_slots else []
    for batch in batches(reads):
        await b.transact(batch)
    await b.finish()


@cocotb.test()
async def test_random_sessions(dut):
    """One random session per seed (network, stimuli, refused requests, resets, readback)."""
    seeds = settings()["seeds"]
    b = await bench(dut)
    for seed in seeds:
        b.context = (f"random session seed {seed}; rerun: SPIKELOOM_SEED={seed} SPIKELOOM_SEEDS=1 "
                     f"COCOTB_TEST_FILTER=test_random_sessions pytest tests/test_cocotb.py "
                     f"-m regress -k '{cocotb.SIM_NAME.lower().split()[0]} and {b.cfg.name}'")
        dut._log.info("random session, seed %d", seed)
        b.rq.seq = 0
        for batch in batches(random_session(b.cfg, seed)):
            await b.transact(batch)
    await b.finish()


@cocotb.test()
async def test_coverage_report(dut):
    """Write the coverage JSON, print the table; with REQUIRE_FULL, every item must be hit."""
    s = settings()
    table = COVERAGE.table()
    dut._log.info("coverage:\n%s", table)
    if s["coverage"]:
        COVERAGE.write(s["coverage"], config=s["cfg"].fields(), seeds=s["seeds"])
    if s["require_full"]:
        assert not COVERAGE.holes(), f"coverage holes: {COVERAGE.holes()}"
