"""Request bytes for the cocotb testbench, built with the host library's own encoders.

Contract: :class:`Requests` turns requests into wire bytes with
``spikeloom.proto.protocol.encode_frame`` and the ``*_REQ`` layouts, and region contents with
``spikeloom.regions`` (the codec the host library loads images with), numbering them with
sequence numbers 1..255 like ``spikeloom.link.Link``. Malformed requests (wrong lengths, bad
regions, bad values...) still go through ``encode_frame``: only their payloads are wrong.
:func:`random_network` and :func:`random_session` derive a whole network and a stimulus
session from one integer seed (numpy ``default_rng``), so a seed reproduces the same bytes.
"""

from __future__ import annotations

import numpy as np
from spikeloom import regions
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, region_words
from spikeloom.proto.memmap import regions as regions_of
from spikeloom.proto.protocol import Frame, Opcode

__all__ = ["Requests", "random_network", "random_delays", "random_probes", "random_rules",
           "random_modulation", "random_session", "batches"]


class Requests:
    """Request wire bytes for one device configuration (see the module docstring)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.layouts = layouts(cfg)
        self.seq = 0

    def frame(self, opcode: int, payload: bytes = b"") -> bytes:
        self.seq = self.seq % 255 + 1
        return P.encode_frame(Frame(int(opcode), self.seq, 0, bytes(payload)))

    def ping(self, payload: bytes = b"spikeloom") -> bytes:
        return self.frame(Opcode.PING, payload)

    def info(self) -> bytes:
        return self.frame(Opcode.INFO)

    def status(self) -> bytes:
        return self.frame(Opcode.STATUS)

    def reset(self, flags: int) -> bytes:
        return self.frame(Opcode.RESET, bytes([flags]))

    def read(self, region: Region, addr: int = 0, count: int | None = None) -> list[bytes]:
        """READ frames covering ``count`` words (default: the rest of the region)."""
        nb = self.layouts[region].nbytes
        if count is None:
            count = region_words(self.cfg, region) - addr
        step = P.MAX_PAYLOAD // nb
        return [self.frame(Opcode.READ, P.READ_REQ.pack(region=region, addr=a,
                                                        count=min(step, addr + count - a)))
                for a in range(addr, addr + count, step)] or \
            [self.frame(Opcode.READ, P.READ_REQ.pack(region=region, addr=addr, count=0))]

    def write(self, region: Region, data: bytes, addr: int = 0) -> list[bytes]:
        """WRITE frames storing ``data`` (whole words) from word ``addr`` on."""
        nb = self.layouts[region].nbytes
        step = (P.MAX_PAYLOAD - P.WRITE_REQ.size) // nb * nb
        return [self.frame(Opcode.WRITE, P.WRITE_REQ.pack(region=region, addr=addr + k // nb)
                           + data[k:k + step])
                for k in range(0, len(data), step)]

    def write_fields(self, region: Region, fields: dict) -> list[bytes]:
        return self.write(region, regions.encode(self.cfg, region, fields))

    def write_matrix(self, region: Region, matrix) -> list[bytes]:
        return self.write(region, regions.encode_matrix(self.cfg, region, matrix))

    def inject(self, indices) -> bytes:
        return self.frame(Opcode.INJECT, b"".join(int(j).to_bytes(2, "little") for j in indices))

    def run(self, ticks: int, period: int = 0) -> bytes:
        return self.frame(Opcode.RUN, P.RUN_REQ.pack(ticks=ticks, period=period))

    def load(self, net: dict) -> list[bytes]:
        """WRITE frames of a network from :func:`random_network` (with the delays and probe
        words of a configuration that has them)."""
        out = [*self.write_fields(Region.NEURON_PARAMS, net["params"]),
               *self.write_matrix(Region.WEIGHTS, net["weights"]),
               *self.write_matrix(Region.PLASTIC, net["plastic"]),
               *self.write_fields(Region.STDP_PARAMS, net["stdp"])]
        if "delays" in net:
            out += self.write_matrix(Region.DELAYS, net["delays"])
        if "probes" in net:
            out += self.write_words(Region.PROBES, net["probes"])
        if "learn" in net:
            out += self.write_words(Region.LEARN, net["learn"])
        return out

    def write_words(self, region: Region, words, addr: int = 0) -> list[bytes]:
        """WRITE frames of whole words given as integers (their layout's packing)."""
        lay = self.layouts[region]
        return self.write(region, b"".join(lay.to_bytes(int(w)) for w in words), addr)

    def bad(self, rng) -> bytes:
        """One request that a device must refuse (each check of docs/protocol.md section 7)."""
        cfg, lay = self.cfg, self.layouts
        region = Region(int(rng.choice([int(x) for x in regions_of(cfg)])))  # those cfg has
        words = region_words(cfg, region)
        nb = lay[region].nbytes
        kind = int(rng.integers(0, 15))
        if kind == 0:
            return self.frame(Opcode.READ, P.READ_REQ.pack(region=int(rng.integers(8, 256))))
        if kind == 1:
            return self.frame(Opcode.READ, P.READ_REQ.pack(region=region, addr=words, count=1))
        if kind == 2:
            return self.frame(Opcode.READ, P.READ_REQ.pack(
                region=region, count=P.MAX_PAYLOAD // nb + 1))
        if kind == 3:
            return self.frame(Opcode.READ, P.READ_REQ.pack(region=region)[:-1])
        if kind == 4:       # a region number the configuration does not have
            missing = next(r for r in range(9, 256) if r not in set(map(int, regions_of(cfg))))
            return self.frame(Opcode.WRITE, P.WRITE_REQ.pack(region=missing) + bytes(nb))
        if kind == 5:
            return self.frame(Opcode.WRITE, P.WRITE_REQ.pack(region=region, addr=words - 1)
                              + bytes(2 * nb))
        if kind == 6:
            # a word with the bit just above the layout width set (bytes are whole, so a
            # layout narrower than nbytes * 8 has room for it; else a length error)
            w = lay[region].width
            word = (1 << w) if w < 8 * nb else 0
            extra = b"" if w < 8 * nb else b"\x00"
            return self.frame(Opcode.WRITE, P.WRITE_REQ.pack(region=region)
                              + word.to_bytes(nb, "little") + extra)
        if kind == 7:
            return self.frame(Opcode.WRITE, P.WRITE_REQ.pack(region=region)[:3])
        if kind == 8:
            return self.inject([cfg.n_inputs + int(rng.integers(0, 100))])
        if kind == 9:
            return self.frame(Opcode.INJECT, b"\x00")
        if kind == 10:
            return self.frame(Opcode.RUN, P.RUN_REQ.pack(ticks=1)[:7])
        if kind == 11:
            return self.frame(int(rng.choice([Opcode.INFO, Opcode.STATUS])), b"\x01")
        if kind == 12:
            return self.frame(Opcode.RESET, bytes([int(rng.integers(8, 256))]))
        if kind == 13:
            return self.frame(Opcode.RESET, b"\x01\x00"[:int(rng.integers(0, 2)) * 2])
        return self.frame(int(rng.choice([Opcode.SPIKES, 0x00, 0x09, 0x55, 0xFF])), b"")


def random_network(cfg, rng) -> dict:
    """Neuron parameters, weights, plasticity and STDP parameters drawn from ``rng``: lively
    enough that neurons fire, STDP moves weights and sometimes hits its bounds."""
    n, s, F, G = cfg.n_neurons, cfg.n_sources, cfg.decay_frac, cfg.stdp_frac
    one = 1 << F
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    params = {
        "threshold": rng.integers(-5, 4 * whi, n),
        "v_reset": rng.integers(-whi, whi // 2, n),
        "bias": rng.integers(-whi // 8, whi // 2, n),
        "refractory": rng.integers(0, min(4, (1 << cfg.refractory_width) - 1) + 1, n),
        "alpha_mem": rng.integers(one // 2, one + 1, n),
        "alpha_syn": rng.integers(0, one + 1, n),
        "reset_subtract": rng.integers(0, 2, n),
    }
    weights = rng.integers(wlo, whi + 1, (s, n)) * (rng.random((s, n)) < 0.7)
    plastic = rng.random((s, n)) < rng.uniform(0.3, 1.0)
    w_min = int(rng.integers(wlo, 1))
    w_max = int(rng.integers(max(w_min, 0), whi + 1))
    stdp = {
        "enable": int(rng.random() < 0.75),
        "a_plus": int(rng.integers(0, 4 << G)), "a_minus": int(rng.integers(0, 4 << G)),
        "pre_jump": int(rng.integers(0, tmax + 1)), "post_jump": int(rng.integers(0, tmax + 1)),
        "alpha_pre": int(rng.integers(0, one + 1)), "alpha_post": int(rng.integers(0, one + 1)),
        "w_min": w_min, "w_max": w_max,
    }
    # the optional neuron features (drawn last: a core without them gets the session of before)
    if cfg.inh_current:
        params["alpha_inh"] = rng.integers(one // 2, one + 1, n)
    if cfg.theta_width:
        params["theta_jump"] = rng.integers(0, min(whi, (1 << cfg.theta_width) - 1) + 1, n)
        params["alpha_theta"] = rng.integers(one * 7 // 8, one + 1, n)
    net = {"params": {k: np.asarray(v) for k, v in params.items()}, "weights": weights,
           "plastic": plastic, "stdp": stdp}
    if cfg.delay_bits:
        net["delays"] = random_delays(cfg, rng)
    if cfg.probe_slots:
        net["probes"] = random_probes(cfg, rng)
    if cfg.rule_bits > 1:
        random_rules(cfg, rng, net)
    return net


def random_rules(cfg, rng, net) -> None:
    """With ``rule_bits > 1``: rule indices on the plastic synapses, one STDP_PARAMS word per
    rule (random soft / stochastic / modulated flags, some rates below one weight step, now and
    then a rule disabled) and the LEARN words (a non-zero seed, a random modulation)."""
    from spikeloom.proto.memmap import n_rules
    k, G = n_rules(cfg), cfg.stdp_frac
    net["plastic"] = np.where(net["plastic"],
                              rng.integers(1, k + 1, (cfg.n_sources, cfg.n_neurons)), 0)
    st = net["stdp"]
    lo, hi = st["w_min"], st["w_max"]
    small = rng.random(k) < 0.3
    top = np.where(small, 1 << max(G - 3, 1), 4 << G)
    net["stdp"] = {
        **{f: np.full(k, v) for f, v in st.items()},
        "enable": (rng.random(k) < 0.6) | (np.arange(k) == rng.integers(k)),  # one at least
        "a_plus": rng.integers(0, top), "a_minus": rng.integers(0, top),
        "w_min": rng.integers(lo - 8, lo + 1, k).clip(-(1 << (cfg.w_width - 1))),
        "w_max": rng.integers(hi, hi + 9, k).clip(None, (1 << (cfg.w_width - 1)) - 1),
        "soft": rng.integers(0, 2, k), "stochastic": rng.integers(0, 2, k),
        "modulated": rng.integers(0, 2, k)}
    net["learn"] = [int(rng.integers(1, 1 << 32)), random_modulation(rng)]


def random_modulation(rng, sign=None) -> int:
    """A LEARN word 1: a positive, negative or zero factor m (bits 0..15; ``sign`` 1, -1, 0 or
    None: any), junk above."""
    sign = int(rng.choice([0, 1, -1])) if sign is None else sign
    m = sign * int(rng.integers(1, 600))
    return (m & 0xFFFF) | int(rng.integers(0, 1 << 16)) << 16


def random_delays(cfg, rng) -> np.ndarray:
    """Per-synapse delays ``d`` in 0 .. 2**delay_bits - 1, each row with the largest and the
    smallest somewhere (every row delivers into both ends of the ring)."""
    top = (1 << cfg.delay_bits) - 1
    d = rng.integers(0, top + 1, (cfg.n_sources, cfg.n_neurons))
    for row in d:
        a, b = rng.choice(cfg.n_neurons, 2, replace=False)
        row[a], row[b] = top, 0
    return d


def random_probes(cfg, rng) -> list[int]:
    """The K + 1 PROBES words (docs/protocol.md 5): each slot off, or on a neuron (now and then
    one past N, which streams zeros) with random fields (sometimes all of them); a sample every
    1, 2 or 3 ticks."""
    from spikeloom.proto.memmap import probe_fields
    lay = layouts(cfg)[Region.PROBES]
    names = [f for f, _ in probe_fields(cfg)]
    words = []
    for _ in range(cfg.probe_slots):
        r = rng.random()
        if r < 0.2:
            words.append(0)                                         # off
            continue
        sel = names if r > 0.75 else [f for f in names if rng.random() < 0.5] or names[:1]
        neuron = int(rng.integers(0, cfg.n_neurons + 2))
        words.append(lay.pack({"neuron": neuron, **{f: 1 for f in sel}}))
    words.append(lay.pack({"neuron": int(rng.choice([0, 0, 1, 2]))}))   # every - 1
    return words


def random_session(cfg, seed: int) -> list[bytes]:
    """Request frames of one random session: reset, load a network, then a random mix of
    INJECT + RUN rounds, READs, STATUS, PINGs, resets and refused requests."""
    rng = np.random.default_rng(seed)
    rq = Requests(cfg)
    out = [rq.reset(7), rq.info(), *rq.load(random_network(cfg, rng))]
    if rng.random() < 0.5:      # a random starting state as well
        n = cfg.n_neurons
        st = {"v": rng.integers(-200, 200, n), "i": rng.integers(-50, 50, n),
              "ref": rng.integers(0, 3, n)}
        out += rq.write_fields(Region.NEURON_STATE, st)
        out += rq.write_fields(Region.PRE_TRACE, {"x": rng.integers(0, 1 << cfg.trace_width,
                                                                     cfg.n_sources)})
    runs = 0
    for _ in range(int(rng.integers(6, 14))):
        r = rng.random()
        if r < 0.5:
            if cfg.rule_bits > 1:       # a new modulation before each RUN: +, -, 0 in turn
                runs += 1
                out += rq.write_words(Region.LEARN, [random_modulation(rng, runs % 3 - 1)],
                                      addr=1)
            k = int(rng.integers(0, cfg.n_inputs + 1))
            out.append(rq.inject(rng.choice(cfg.n_inputs, k, replace=True)))
            period = int(rng.choice([0, 0, rng.integers(20, 120)]))
            out.append(rq.run(int(rng.integers(0, 5)), period))
        elif r < 0.62:
            region = Region(int(rng.choice([int(x) for x in regions_of(cfg)])))  # those cfg has
            words = region_words(cfg, region)
            a = int(rng.integers(0, words))
            out += rq.read(region, a, int(rng.integers(0, min(words - a, 40) + 1)))
        elif r < 0.7:
            out.append(rq.status())
        elif r < 0.78:
            out.append(rq.ping(rng.integers(0, 256, int(rng.integers(0, 40)), np.uint8)
                               .tobytes()))
        elif r < 0.9:
            out.append(rq.bad(rng))
        elif r < 0.95:
            out.append(rq.reset(int(rng.integers(0, 8))))
        else:
            net = random_network(cfg, rng)
            out += rq.write_fields(Region.STDP_PARAMS, net["stdp"])
            # (configurations with delays or probes rewrite those too: weights in flight keep
            # their slot, the probe phase restarts)
            if "delays" in net and rng.random() < 0.5:
                out += rq.write_matrix(Region.DELAYS, net["delays"])
            if "probes" in net:
                out += rq.write_words(Region.PROBES, net["probes"])
            if "learn" in net:      # a new modulation factor (the generator runs on)
                out += rq.write_words(Region.LEARN, [random_modulation(rng)], addr=1)
    out += rq.read(Region.WEIGHTS)
    out += rq.read(Region.NEURON_STATE)
    if cfg.rule_bits > 1:       # the generator state: every draw of the session counted
        out += rq.read(Region.LEARN)
    out.append(rq.status())
    return out


def batches(frames: list[bytes], limit: int = 768) -> list[bytes]:
    """Concatenate frames into bursts of at most ``limit`` bytes (one frame may exceed it):
    a host keeps at most RX_BUFFER request bytes outstanding."""
    out, cur = [], b""
    for f in frames:
        if cur and len(cur) + len(f) > limit:
            out.append(cur)
            cur = b""
        cur += f
    return out + ([cur] if cur else [])
