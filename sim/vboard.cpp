// spikeloom virtual board: the Verilated top-level (module spikeloom_top: clk, rst, uart_rx,
// uart_tx, leds) clocked from C++, its UART pins driven and sampled at the bit level, and the
// bytes bridged to one TCP client on loopback (or to a pseudo-terminal).
//
// The model is built from vboard_top (written by sim/vboard.py): spikeloom_top with its reset
// driven from an internal power-on counter (high for the first cycles) rather than a top-level
// input. Verilator re-evaluates all logic that reads a top-level input on *every* eval(), and in
// Amaranth's Verilog the next-state logic of every flop reads rst: as an input, that logic ran
// twice per clock (on both edges); as an internal signal it runs once, after the rising edge.
//
// Contract (sim/vboard.py builds and starts this; see its docstring for the Python side):
// - argv: --port P (0 = any free port) --host H --divisor D (clock cycles per UART bit)
//   --clock-hz F (only for the stats line) --pty --stats PATH --bench N --quiet
//   --parent-pid PID (exit cleanly once PID is no longer our parent: the launcher died)
//   --idle-timeout S (drop a client idle for S seconds; 0 = never, the default).
// - When ready it prints one line on stdout naming the URL to use ("socket://H:P" or the
//   /dev/pts path) and flushes it.
// - 8N1 both ways at the divisor. Client bytes are shifted into uart_rx back to back; bytes the
//   design sends on uart_tx go to the client (discarded while no client is connected).
// - No Python and no syscall per cycle: the socket is polled without blocking every CHUNK cycles.
// - Idle: when nothing is queued for the design, both UART lines are quiet and every request
//   frame sent (SLIP END-delimited body) has had its reply frame (any frame except a SPIKES
//   event), the harness blocks in poll() and only advances a CHUNK of cycles per IDLE_MS of wall
//   time. The design then waits for input either way, so the bytes out for given bytes in do not
//   depend on wall time; only the simulated cycle count at which they happen does. A body ended
//   by the abort token (ESC END) expects no reply.
// - If the client does not read, output is buffered up to OUT_LIMIT bytes, then simulation pauses
//   until it drains (the design never sees the difference).
// - Sessions: one client at a time. A second client that connects while one holds the board
//   gets one line of text, "spikeloom virtual board: board busy (held by ADDR:PORT since
//   HH:MM:SS)\n" (the holder's address and the local time it connected), and is closed (after
//   its own bytes are read and discarded, so the line is not lost to a reset). The line is sent
//   once the client sent its first byte (a host's first request), or after REFUSE_WAIT_S: a
//   serial library that flushes its input right after connecting (pyserial does) would
//   otherwise throw the line away unread. A client that
//   closes (or shuts down) its sending side counts as gone at once; --idle-timeout S (0, the
//   default: never) drops a client after S seconds without a byte either way while the design
//   has no work of its own, with one line "spikeloom virtual board: disconnected after S s
//   idle\n".
// - When a client leaves (closed, reset, killed, idle), its bytes not yet shifted into the
//   design and its unsent output are dropped, and the harness feeds the design the abort token
//   ESC END (DB C0, docs/protocol.md "Abort": it stops a RUN at the next tick and ends a frame
//   cut short without executing it) followed by a PING frame whose payload is unique to this
//   drain (a per-process random nonce and a counter). All design output is discarded until
//   that PING's reply (the same body) has come out; only then is the next client accepted, so
//   it never receives a byte meant for another. A design without the abort answers the token
//   with BAD_FRAME and finishes its RUN first: the drain then simply takes longer. If the
//   design falls silent without answering (the PING was lost in a full receive buffer) the
//   PING is sent again with a new counter, after 2^20 quiet cycles, then twice as many, ...;
//   only the newest PING's reply ends the drain (replies come in request order).
// - SIGINT/SIGTERM: clean exit (status 0) with a stats line on stderr:
//   "vboard: cycles=N wall_s=W busy_s=B simulated_s=S bytes_in=I bytes_out=O framing_errors=E
//   clients=C evals_per_cycle=1|2".
// - --stats PATH: a file of little-endian uint64 counters, refreshed at every poll:
//   [0] magic 0x7662726473746174, [1] cycles, [2] bytes_in, [3] bytes_out, [4] framing_errors,
//   [5] clients served, [6] busy wall time in ns, [7] 1 while the server runs, 0 after exit,
//   [8] drains completed (clients whose leaving was cleaned up), [9] design bytes discarded by
//   drains. (80 bytes; the first 64 are as they were before [8] and [9] existed.)
// - --bench N: run N cycles flat out with the UART idle, print "bench: cycles=N wall_s=W" and exit.

#include "spikeloom_proto.h"  // wire constants, generated from spikeloom.proto at build time
#include "Vvboard_top.h"
#include "Vvboard_top___024root.h"
#include "verilated.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <type_traits>
#include <utility>
#include <unistd.h>
#include <vector>

namespace {

constexpr uint64_t CHUNK = 4096;              // cycles between two socket polls
constexpr int IDLE_MS = 100;                  // poll timeout while idle
constexpr size_t IN_LIMIT = 64 * 1024;        // client bytes queued before we stop reading
constexpr size_t OUT_LIMIT = 8 * 1024 * 1024; // design bytes queued before simulation pauses
constexpr uint64_t RESEND_CYCLES = 1ULL << 20; // quiet cycles before a drain PING is resent
constexpr double DRAIN_NOTICE_S = 2.0;        // say so when a drain takes longer than this
constexpr double REFUSE_WAIT_S = 0.5;         // a refused client that sends nothing: line after
constexpr double REFUSE_LINGER_S = 2.0;       // how long a refused client may read its line
constexpr size_t REFUSED_MAX = 16;            // refused connections lingering at once
constexpr uint64_t STATS_MAGIC = 0x7662726473746174ULL;
constexpr size_t STATS_WORDS = 10;

// One eval() per clock instead of two. Verilator finds a rising edge by comparing clk with the
// value it saw at the previous eval(); the falling-edge eval() does nothing in a design without
// negedge logic but costs ~8% of the time. When the generated root class has that "previous clk"
// member (Verilator 5.0xx names it as below) we reset it to 0 and evaluate only the rising edge;
// otherwise (another Verilator) this compiles to the plain two-eval clocking.
template <typename R, typename = void>
struct HasPrevClk : std::false_type {};
template <typename R>
struct HasPrevClk<R, std::void_t<decltype(std::declval<R&>().__Vtrigprevexpr___TOP__clk__0)>>
    : std::true_type {};
constexpr bool ONE_EVAL = HasPrevClk<Vvboard_top___024root>::value;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Bytes into the design's uart_rx: 8N1, LSB first, back to back.
struct Driver {
    uint32_t divisor = 12;
    uint32_t left = 0;     // cycles left in the current bit
    int bit = 10;          // 0 start, 1..8 data, 9 stop, 10 idle
    uint16_t frame = 0x3FF;
    bool idle() const { return bit == 10 && left == 0; }
};

// Bytes out of the design's uart_tx: sample each bit in its middle.
struct Receiver {
    uint32_t divisor = 12;
    uint32_t left = 0;
    int bit = -1;          // -1 idle, 0 start, 1..8 data, 9 stop
    uint8_t shift = 0;
    uint64_t framing_errors = 0;
    bool idle() const { return bit < 0; }
};

// CRC-16/CCITT-FALSE (docs/protocol.md section 3), for the drain PING the harness sends.
uint16_t crc16(const uint8_t* p, size_t n) {
    uint16_t crc = CRC_INIT;
    for (size_t k = 0; k < n; k++) {
        crc ^= (uint16_t)(p[k] << 8);
        for (int i = 0; i < 8; i++)
            crc = (uint16_t)((crc & 0x8000) ? ((crc << 1) ^ CRC_POLY) : (crc << 1));
    }
    return crc;
}

// The local wall-clock time as HH:MM:SS.
std::string clock_hms() {
    char buf[16];
    time_t t = time(nullptr);
    tm lt{};
    localtime_r(&t, &lt);
    strftime(buf, sizeof buf, "%H:%M:%S", &lt);
    return buf;
}

// Counts SLIP request bodies sent and reply bodies received, to know when the design is idle.
// A body ended by the abort token (ESC END) is discarded by the design and expects no reply.
struct Tracker {
    uint32_t req_len = 0;
    uint32_t rsp_len = 0;
    uint8_t rsp_first = 0;
    uint8_t last_sent = 0;
    int64_t outstanding = 0;
    void sent(uint8_t b) {
        if (b == SLIP_END) {
            if (req_len && last_sent != SLIP_ESC) outstanding++;
            req_len = 0;
        } else {
            req_len++;
        }
        last_sent = b;
    }
    void received(uint8_t b) {
        if (b == SLIP_END) {
            if (rsp_len && rsp_first != OP_SPIKES && outstanding > 0) outstanding--;
            rsp_len = 0;
        } else {
            if (!rsp_len) rsp_first = b;
            rsp_len++;
        }
    }
};

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    uint32_t divisor = 12;
    uint64_t clock_hz = 12000000;
    bool pty = false;
    bool quiet = false;
    std::string stats;
    uint64_t bench = 0;
    pid_t parent = 0;      // --parent-pid: stop when this process is no longer our parent
    double idle_timeout = 0;   // --idle-timeout: seconds; 0 = never drop an idle client
};

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr, "vboard: %s\nusage: vboard [--host H] [--port P] [--divisor D] "
                    "[--clock-hz F] [--pty] [--stats PATH] [--bench CYCLES] [--quiet] "
                    "[--parent-pid PID] [--idle-timeout S]\n", msg);
    exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--host") o.host = value();
        else if (a == "--port") o.port = atoi(value());
        else if (a == "--divisor") o.divisor = (uint32_t)strtoul(value(), nullptr, 10);
        else if (a == "--clock-hz") o.clock_hz = strtoull(value(), nullptr, 10);
        else if (a == "--pty") o.pty = true;
        else if (a == "--quiet") o.quiet = true;
        else if (a == "--stats") o.stats = value();
        else if (a == "--bench") o.bench = strtoull(value(), nullptr, 10);
        else if (a == "--parent-pid") o.parent = (pid_t)atol(value());
        else if (a == "--idle-timeout") o.idle_timeout = strtod(value(), nullptr);
        else if (a.rfind("+verilator", 0) == 0) continue;
        else usage(("unknown argument " + a).c_str());
    }
    if (o.divisor < 4) usage("--divisor must be >= 4");
    if (o.port < 0 || o.port > 65535) usage("--port out of range");
    if (!(o.idle_timeout >= 0)) usage("--idle-timeout must be >= 0");
    return o;
}

class Board {
public:
    explicit Board(const Options& opt) : opt_(opt) {
        ctx_ = std::make_unique<VerilatedContext>();
        top_ = std::make_unique<Vvboard_top>(ctx_.get(), "top");
        drv_.divisor = rx_.divisor = opt.divisor;
        quiet_window_ = 24ULL * opt.divisor;   // over two byte times of silence on uart_tx
        top_->uart_rx = 1;
        top_->clk = 0;
        top_->eval();
        std::random_device rd;
        for (auto& b : nonce_) b = (uint8_t)rd();
        if (!opt.stats.empty()) open_stats(opt.stats);
    }

    ~Board() {
        top_->final();
        if (stats_) {
            stats_[7] = 0;
            munmap((void*)stats_, STATS_WORDS * 8);
        }
    }

    int serve();
    int bench(uint64_t n);

private:
    const Options& opt_;
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Vvboard_top> top_;
    Driver drv_;
    Receiver rx_;
    Tracker trk_;
    std::deque<uint8_t> inq_;       // client bytes not yet shifted into the design
    std::vector<uint8_t> outq_;     // design bytes not yet written to the client
    size_t out_off_ = 0;
    uint64_t cycles_ = 0;
    uint64_t last_tx_activity_ = 0;
    uint64_t quiet_window_ = 0;
    uint64_t bytes_in_ = 0, bytes_out_ = 0, clients_ = 0;
    double busy_s_ = 0;
    volatile uint64_t* stats_ = nullptr;

    int listen_fd_ = -1, client_fd_ = -1, pty_master_ = -1, pty_slave_ = -1;
    std::string peer_;              // the client holding the board, "ADDR:PORT"
    std::string since_;             // ... and when it connected, "HH:MM:SS"
    double last_activity_ = 0;      // wall time of its last byte either way (idle timeout)
    struct Refused {
        int fd;
        std::string line;   // the "board busy" line, not yet sent while !sent
        bool sent;
        double deadline;    // send the line (!sent) or close (sent) by then
    };
    std::vector<Refused> refused_;  // refused clients reading their "busy" line

    // The drain after a client left (see the contract at the top).
    bool draining_ = false;
    double drain_started_ = 0;
    bool drain_noted_ = false;
    uint8_t nonce_[8] = {};
    uint32_t drain_pings_ = 0;          // drain PINGs sent so far (makes each one unique)
    std::vector<uint8_t> drain_expect_; // body of the newest drain PING = body of its reply
    std::vector<uint8_t> drain_body_;   // the output body being received while draining
    bool drain_esc_ = false, drain_bad_ = false;
    uint64_t drain_ping_cycle_ = 0;     // cycle the newest drain PING was queued
    uint64_t drain_resend_after_ = RESEND_CYCLES;
    uint64_t drains_ = 0, discarded_ = 0, drain_discarded_ = 0;

    void tick_raw() {
        if constexpr (ONE_EVAL) {
            top_->rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
        } else {
            top_->clk = 0;
            top_->eval();
        }
        top_->clk = 1;
        top_->eval();
    }

    // One clock cycle with both UART ends; the hot loop.
    inline void cycle() {
        Driver& d = drv_;
        if (d.left == 0) {
            if (d.bit < 9) {
                d.bit++;
                d.left = d.divisor;
            } else if (!inq_.empty()) {
                uint8_t b = inq_.front();
                inq_.pop_front();
                trk_.sent(b);
                d.frame = (uint16_t)((b << 1) | 0x200);
                d.bit = 0;
                d.left = d.divisor;
            } else {
                d.bit = 10;
            }
        }
        top_->uart_rx = d.bit < 10 ? (d.frame >> d.bit) & 1 : 1;
        if (d.left) d.left--;

        tick_raw();
        cycles_++;

        const int line = top_->uart_tx & 1;
        Receiver& r = rx_;
        if (r.bit < 0) {
            if (!line) {
                r.bit = 0;
                r.left = r.divisor / 2;
                last_tx_activity_ = cycles_;
            }
            return;
        }
        last_tx_activity_ = cycles_;
        if (--r.left) return;
        if (r.bit == 0) {
            if (line) { r.bit = -1; return; }      // a glitch, not a start bit
            r.bit = 1;
            r.shift = 0;
            r.left = r.divisor;
        } else if (r.bit <= 8) {
            r.shift |= (uint8_t)(line << (r.bit - 1));
            r.bit++;
            r.left = r.divisor;
        } else {
            if (line) {
                trk_.received(r.shift);
                if (draining_) drain_received(r.shift);
                else if (client_fd_ >= 0 || pty_master_ >= 0) outq_.push_back(r.shift);
                bytes_out_++;
            } else {
                r.framing_errors++;
            }
            r.bit = -1;
        }
    }

    void run(uint64_t n) {
        for (uint64_t i = 0; i < n; i++) cycle();
    }

    bool design_idle() const {
        return inq_.empty() && drv_.idle() && rx_.idle() && trk_.outstanding == 0
               && cycles_ - last_tx_activity_ >= quiet_window_;
    }

    void open_stats(const std::string& path) {
        int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
        if (fd < 0 || ftruncate(fd, STATS_WORDS * 8) != 0) {
            perror("vboard: stats file");
            exit(1);
        }
        void* p = mmap(nullptr, STATS_WORDS * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            perror("vboard: mmap stats file");
            exit(1);
        }
        stats_ = (volatile uint64_t*)p;
        stats_[0] = STATS_MAGIC;
        publish();
    }

    void publish() {
        if (!stats_) return;
        stats_[1] = cycles_;
        stats_[2] = bytes_in_;
        stats_[3] = bytes_out_;
        stats_[4] = rx_.framing_errors;
        stats_[5] = clients_;
        stats_[6] = (uint64_t)(busy_s_ * 1e9);
        stats_[7] = 1;
        stats_[8] = drains_;
        stats_[9] = discarded_;
    }

    int link_fd() const { return opt_.pty ? pty_master_ : client_fd_; }

    bool open_listener();
    bool open_pty();
    void accept_clients();
    void refuse(int fd);
    void linger_refused(double now);
    bool client_gone() const;
    void drop_client(const char* why);
    void queue_drain_ping();
    void drain_received(uint8_t b);
    void check_drain();
    bool service(int timeout_ms);
};

bool Board::open_listener() {
    // Any host name or address literal (127.0.0.1, localhost, ::1, 0.0.0.0): the first address
    // getaddrinfo gives for it.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(opt_.port);
    int rc = getaddrinfo(opt_.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "vboard: cannot resolve host %s: %s\n", opt_.host.c_str(),
                gai_strerror(rc));
        return false;
    }
    listen_fd_ = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        perror("vboard: socket");
        freeaddrinfo(res);
        return false;
    }
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const bool ok = bind(listen_fd_, res->ai_addr, res->ai_addrlen) == 0;
    const bool v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (!ok) {
        fprintf(stderr, "vboard: cannot listen on %s port %d: %s\n", opt_.host.c_str(),
                opt_.port, strerror(errno));
        return false;
    }
    if (listen(listen_fd_, 4) != 0) { perror("vboard: listen"); return false; }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, (sockaddr*)&addr, &len);
    const int bound = ntohs(v6 ? ((sockaddr_in6*)&addr)->sin6_port
                               : ((sockaddr_in*)&addr)->sin_port);
    const bool bracket = opt_.host.find(':') != std::string::npos;
    printf("spikeloom virtual board: serving on socket://%s%s%s:%d (Ctrl-C to stop)\n",
           bracket ? "[" : "", opt_.host.c_str(), bracket ? "]" : "", bound);
    fflush(stdout);
    return true;
}

bool Board::open_pty() {
    pty_master_ = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (pty_master_ < 0 || grantpt(pty_master_) != 0 || unlockpt(pty_master_) != 0) {
        perror("vboard: pty");
        return false;
    }
    const char* name = ptsname(pty_master_);
    // Hold the slave open ourselves: the master then never reads EIO between clients, and the
    // line discipline is raw (no echo, no CR/LF mangling, all 256 byte values pass).
    pty_slave_ = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pty_slave_ < 0) { perror("vboard: open pty slave"); return false; }
    termios t{};
    tcgetattr(pty_slave_, &t);
    cfmakeraw(&t);
    tcsetattr(pty_slave_, TCSANOW, &t);
    clients_ = 1;
    printf("spikeloom virtual board: serving on %s (Ctrl-C to stop)\n", name);
    fflush(stdout);
    return true;
}

bool Board::client_gone() const {
    pollfd p{client_fd_, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void Board::accept_clients() {
    for (;;) {
        // A client may have come and gone before we even accepted it: drop it first, and leave
        // the next connection in the backlog until the design has answered the dead one.
        if (client_fd_ >= 0 && client_gone()) drop_client("closed");
        if (client_fd_ < 0 && draining_) return;
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int fd = accept4(listen_fd_, (sockaddr*)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (client_fd_ >= 0) {
            refuse(fd);
            continue;
        }
        char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
        getnameinfo((sockaddr*)&addr, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        const bool v6 = strchr(host, ':') != nullptr;
        peer_ = std::string(v6 ? "[" : "") + host + (v6 ? "]:" : ":") + serv;
        since_ = clock_hms();
        last_activity_ = now_s();
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client_fd_ = fd;
        clients_++;
        outq_.clear();
        out_off_ = 0;
        if (!opt_.quiet) fprintf(stderr, "vboard: client %s connected\n", peer_.c_str());
    }
}

// A second client: one line saying who holds the board, then close. The line waits for the
// client's first byte (or REFUSE_WAIT_S), see the contract. Closing at once with bytes of theirs
// unread would reset the connection and could destroy the line before they read it, so they
// linger (their bytes read and discarded) until they close or REFUSE_LINGER_S passed.
void Board::refuse(int fd) {
    char line[256];
    snprintf(line, sizeof line, "spikeloom virtual board: board busy (held by %s since %s)\n",
             peer_.c_str(), since_.c_str());
    if (refused_.size() >= REFUSED_MAX) {
        close(refused_.front().fd);
        refused_.erase(refused_.begin());
    }
    refused_.push_back({fd, line, false, now_s() + REFUSE_WAIT_S});
    if (!opt_.quiet) fprintf(stderr, "vboard: refused a second client (board held by %s)\n",
                             peer_.c_str());
}

void Board::linger_refused(double now) {
    for (size_t k = 0; k < refused_.size();) {
        Refused& c = refused_[k];
        uint8_t junk[4096];
        ssize_t got;
        bool heard = false;
        while ((got = recv(c.fd, junk, sizeof junk, MSG_DONTWAIT)) > 0) heard = true;
        const bool open = got < 0 && (errno == EAGAIN || errno == EINTR);
        if (open && !c.sent && (heard || now >= c.deadline)) {
            ssize_t ignored = send(c.fd, c.line.data(), c.line.size(),
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            shutdown(c.fd, SHUT_WR);
            c.sent = true;
            c.deadline = now + REFUSE_LINGER_S;
        }
        if (open && now < c.deadline) {
            k++;
            continue;
        }
        close(c.fd);
        refused_.erase(refused_.begin() + (long)k);
    }
}

void Board::drop_client(const char* why) {
    close(client_fd_);
    client_fd_ = -1;
    outq_.clear();
    out_off_ = 0;
    // Requests not yet shifted into the design are not executed; a frame cut short inside the
    // design is ended by the abort token, which discards it (no reply with the abort, BAD_FRAME
    // without: either way it is not executed). The token also stops a RUN of this client.
    inq_.clear();
    inq_.push_back(ABORT_FIRST);
    inq_.push_back(ABORT_SECOND);
    draining_ = true;
    drain_started_ = now_s();
    drain_noted_ = false;
    drain_discarded_ = 0;
    drain_resend_after_ = RESEND_CYCLES;
    drain_body_.clear();
    drain_esc_ = drain_bad_ = false;
    queue_drain_ping();
    if (!opt_.quiet) fprintf(stderr, "vboard: client %s left (%s)\n", peer_.c_str(), why);
}

// Queue a PING frame whose body nobody else sends: the nonce of this process and a counter.
void Board::queue_drain_ping() {
    static const char tag[] = "spikeloom vboard drain ";
    std::vector<uint8_t> payload(tag, tag + sizeof tag - 1);
    payload.insert(payload.end(), nonce_, nonce_ + sizeof nonce_);
    const uint32_t k = drain_pings_++;
    for (int i = 0; i < 4; i++) payload.push_back((uint8_t)(k >> (8 * i)));
    std::vector<uint8_t>& body = drain_expect_;
    body = {OP_PING, (uint8_t)(k % 255 + 1), 0, (uint8_t)payload.size(),
            (uint8_t)(payload.size() >> 8)};
    body.insert(body.end(), payload.begin(), payload.end());
    const uint16_t crc = crc16(body.data(), body.size());
    body.push_back((uint8_t)crc);
    body.push_back((uint8_t)(crc >> 8));
    inq_.push_back(SLIP_END);
    for (uint8_t b : body) {
        if (b == SLIP_END) { inq_.push_back(SLIP_ESC); inq_.push_back(SLIP_ESC_END); }
        else if (b == SLIP_ESC) { inq_.push_back(SLIP_ESC); inq_.push_back(SLIP_ESC_ESC); }
        else inq_.push_back(b);
    }
    inq_.push_back(SLIP_END);
    drain_ping_cycle_ = cycles_;
}

// A design byte while draining: discarded; the drain ends with the newest drain PING's reply.
void Board::drain_received(uint8_t b) {
    discarded_++;
    drain_discarded_++;
    if (b == SLIP_END) {
        const bool done = !drain_bad_ && !drain_esc_ && drain_body_ == drain_expect_;
        drain_body_.clear();
        drain_esc_ = drain_bad_ = false;
        if (!done) return;
        draining_ = false;
        drains_++;
        // Everything sent before the PING has been answered (replies come in order); what was
        // never answered (lost in an overflowing receive buffer) never will be.
        trk_ = Tracker{};
        if (!opt_.quiet)
            fprintf(stderr, "vboard: cleaned up after %s in %.3f s (%llu bytes discarded)\n",
                    peer_.c_str(), now_s() - drain_started_,
                    (unsigned long long)drain_discarded_);
        return;
    }
    if (drain_esc_) {
        drain_esc_ = false;
        if (b == SLIP_ESC_END) b = SLIP_END;
        else if (b == SLIP_ESC_ESC) b = SLIP_ESC;
        else { drain_bad_ = true; return; }
    } else if (b == SLIP_ESC) {
        drain_esc_ = true;
        return;
    }
    if (drain_body_.size() < MAX_BODY) drain_body_.push_back(b);
    else drain_bad_ = true;
}

// While draining: resend the PING when the design fell silent without answering it.
void Board::check_drain() {
    if (!draining_) return;
    if (!drain_noted_ && now_s() - drain_started_ > DRAIN_NOTICE_S) {
        drain_noted_ = true;
        if (!opt_.quiet)
            fprintf(stderr, "vboard: still finishing what %s started (the design does not "
                            "honour the abort token, or is in a long tick); the next client "
                            "waits\n", peer_.c_str());
    }
    const uint64_t quiet_since = std::max(last_tx_activity_, drain_ping_cycle_);
    if (inq_.empty() && drv_.idle() && rx_.idle() && cycles_ - quiet_since >= drain_resend_after_) {
        if (!opt_.quiet)
            fprintf(stderr, "vboard: the design fell silent without answering the drain PING "
                            "(lost in a full receive buffer?): sending it again\n");
        queue_drain_ping();
        drain_resend_after_ *= 2;
    }
}

// Move bytes between the link and the queues; wait up to timeout_ms for something to happen.
// Returns false when the server must stop.
bool Board::service(int timeout_ms) {
    if (opt_.parent && getppid() != opt_.parent) g_stop = 1;    // orphaned: nobody to serve
    if (g_stop) return false;
    const double now = now_s();
    if (!refused_.empty()) linger_refused(now);
    check_drain();
    if (client_fd_ >= 0) {
        // Working for the client (not merely stalled on its unread output) counts as activity.
        if (!design_idle() && outq_.size() - out_off_ <= OUT_LIMIT) last_activity_ = now;
        if (opt_.idle_timeout > 0 && now - last_activity_ > opt_.idle_timeout) {
            char line[128];
            const int k = snprintf(line, sizeof line,
                                   "spikeloom virtual board: disconnected after %g s idle\n",
                                   opt_.idle_timeout);
            ssize_t ignored = send(client_fd_, line, (size_t)k, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            shutdown(client_fd_, SHUT_WR);
            drop_client("idle timeout");
            publish();
            return !g_stop;
        }
    }
    pollfd fds[2];
    int n = 0, li = -1, ci = -1;
    if (listen_fd_ >= 0 && !draining_) {
        li = n;
        fds[n++] = {listen_fd_, POLLIN, 0};
    }
    int link = link_fd();
    if (link >= 0) {
        short ev = opt_.pty ? 0 : POLLRDHUP;
        if (inq_.size() < IN_LIMIT) ev |= POLLIN;
        if (out_off_ < outq_.size()) ev |= POLLOUT;
        ci = n;
        fds[n++] = {link, ev, 0};
    }
    int r = poll(fds, n, timeout_ms);
    if (r < 0) return errno == EINTR ? !g_stop : false;
    if (ci >= 0) {
        short rev = fds[ci].revents;
        // A client that closed its end is gone even if it left bytes unread: noticing that before
        // looking at new connections keeps a quick reconnect from being refused as a second
        // client.
        if (!opt_.pty && (rev & (POLLRDHUP | POLLHUP | POLLERR))) {
            drop_client(rev & POLLERR ? "connection error" : "closed");
            publish();
            return !g_stop;
        }
        if (rev & POLLIN) {
            uint8_t buf[16384];
            size_t room = IN_LIMIT - std::min(IN_LIMIT, inq_.size());
            ssize_t got = read(link, buf, std::min(room, sizeof buf));
            if (got > 0) {
                inq_.insert(inq_.end(), buf, buf + got);
                bytes_in_ += (uint64_t)got;
                last_activity_ = now;
            } else if (!opt_.pty && (got == 0 || (errno != EAGAIN && errno != EINTR))) {
                drop_client(got == 0 ? "closed" : strerror(errno));
                publish();
                return !g_stop;
            }
        }
        if (out_off_ < outq_.size()) {
            ssize_t put = opt_.pty
                ? write(link, outq_.data() + out_off_, outq_.size() - out_off_)
                : send(link, outq_.data() + out_off_, outq_.size() - out_off_,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
            if (put > 0) {
                out_off_ += (size_t)put;
                last_activity_ = now;
                if (out_off_ == outq_.size()) {
                    outq_.clear();
                    out_off_ = 0;
                }
            } else if (put < 0 && !opt_.pty && errno != EAGAIN && errno != EINTR) {
                drop_client(strerror(errno));
            }
        }
    }
    if (li >= 0 && (fds[li].revents & POLLIN) && !draining_) accept_clients();
    publish();
    return !g_stop;
}

int Board::serve() {
    if (!(opt_.pty ? open_pty() : open_listener())) return 1;
    const double t0 = now_s();
    for (;;) {
        if (outq_.size() - out_off_ > OUT_LIMIT) {
            // The client is not reading: pause the design rather than lose its bytes.
            if (!service(IDLE_MS)) break;
            continue;
        }
        if (design_idle() && !draining_) {
            if (!service(IDLE_MS)) break;
            if (design_idle()) {
                run(CHUNK);     // time still passes, slowly, while nothing happens
                continue;
            }
        }
        const double b0 = now_s();
        run(CHUNK);
        if (!service(0)) break;
        busy_s_ += now_s() - b0;
    }
    const double wall = now_s() - t0;
    if (client_fd_ >= 0) close(client_fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
    if (pty_slave_ >= 0) close(pty_slave_);
    if (pty_master_ >= 0) close(pty_master_);
    publish();
    fprintf(stderr,
            "vboard: cycles=%llu wall_s=%.3f busy_s=%.3f simulated_s=%.6f bytes_in=%llu "
            "bytes_out=%llu framing_errors=%llu clients=%llu evals_per_cycle=%d\n",
            (unsigned long long)cycles_, wall, busy_s_, (double)cycles_ / (double)opt_.clock_hz,
            (unsigned long long)bytes_in_, (unsigned long long)bytes_out_,
            (unsigned long long)rx_.framing_errors, (unsigned long long)clients_,
            ONE_EVAL ? 1 : 2);
    return 0;
}

int Board::bench(uint64_t n) {
    const double t0 = now_s();
    uint64_t done = 0;
    while (done < n && !g_stop) {
        uint64_t k = std::min<uint64_t>(CHUNK, n - done);
        run(k);
        done += k;
        poll(nullptr, 0, 0);   // what a poll point costs in serve()
        publish();
    }
    const double wall = now_s() - t0;
    printf("bench: cycles=%llu wall_s=%.6f evals_per_cycle=%d\n", (unsigned long long)done, wall,
           ONE_EVAL ? 1 : 2);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse(argc, argv);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;    // no SA_RESTART: a signal must interrupt poll()
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    Board board(opt);
    return opt.bench ? board.bench(opt.bench) : board.serve();
}
