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
//   --parent-pid PID (exit cleanly once PID is no longer our parent: the launcher died).
// - When ready it prints one line on stdout naming the URL to use ("socket://H:P" or the
//   /dev/pts path) and flushes it.
// - 8N1 both ways at the divisor. Client bytes are shifted into uart_rx back to back; bytes the
//   design sends on uart_tx go to the client (discarded while no client is connected).
// - No Python and no syscall per cycle: the socket is polled without blocking every CHUNK cycles.
// - Idle: when nothing is queued for the design, both UART lines are quiet and every request
//   frame sent (SLIP END-delimited body) has had its reply frame (any frame except a SPIKES
//   event), the harness blocks in poll() and only advances a CHUNK of cycles per IDLE_MS of wall
//   time. The design then waits for input either way, so the bytes out for given bytes in do not
//   depend on wall time; only the simulated cycle count at which they happen does.
// - If the client does not read, output is buffered up to OUT_LIMIT bytes, then simulation pauses
//   until it drains (the design never sees the difference).
// - One client at a time: a second one gets one line of text and is closed. A client that closes
//   (or shuts down) its sending side counts as gone at once. When a client leaves,
//   its unsent bytes are dropped, a partial frame it left in the design is closed with END, and
//   the harness lets the design answer (up to DRAIN_MS) before accepting the next client, so
//   stale replies do not reach it. A request the design never answers (its bytes were lost in
//   an overflowing receive buffer) keeps the harness running flat out until that client leaves.
// - SIGINT/SIGTERM: clean exit (status 0) with a stats line on stderr:
//   "vboard: cycles=N wall_s=W busy_s=B simulated_s=S bytes_in=I bytes_out=O framing_errors=E
//   clients=C evals_per_cycle=1|2".
// - --stats PATH: a 64-byte file of little-endian uint64 counters, refreshed at every poll:
//   [0] magic 0x7662726473746174, [1] cycles, [2] bytes_in, [3] bytes_out, [4] framing_errors,
//   [5] clients served, [6] busy wall time in ns, [7] 1 while the server runs, 0 after exit.
// - --bench N: run N cycles flat out with the UART idle, print "bench: cycles=N wall_s=W" and exit.

#include "spikeloom_proto.h"  // wire constants, generated from spikeloom.proto at build time
#include "Vvboard_top.h"
#include "Vvboard_top___024root.h"
#include "verilated.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
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
constexpr int DRAIN_MS = 2000;                // how long a leaving client's frame may take
constexpr uint64_t STATS_MAGIC = 0x7662726473746174ULL;

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

// Counts SLIP request bodies sent and reply bodies received, to know when the design is idle.
struct Tracker {
    uint32_t req_len = 0;
    uint32_t rsp_len = 0;
    uint8_t rsp_first = 0;
    int64_t outstanding = 0;
    void sent(uint8_t b) {
        if (b == SLIP_END) {
            if (req_len) outstanding++;
            req_len = 0;
        } else {
            req_len++;
        }
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
};

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr, "vboard: %s\nusage: vboard [--host H] [--port P] [--divisor D] "
                    "[--clock-hz F] [--pty] [--stats PATH] [--bench CYCLES] [--quiet] "
                    "[--parent-pid PID]\n", msg);
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
        else if (a.rfind("+verilator", 0) == 0) continue;
        else usage(("unknown argument " + a).c_str());
    }
    if (o.divisor < 4) usage("--divisor must be >= 4");
    if (o.port < 0 || o.port > 65535) usage("--port out of range");
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
        if (!opt.stats.empty()) open_stats(opt.stats);
    }

    ~Board() {
        top_->final();
        if (stats_) {
            stats_[7] = 0;
            munmap((void*)stats_, 64);
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
    bool draining_ = false;
    double drain_deadline_ = 0;

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
                if (client_fd_ >= 0 || pty_master_ >= 0) outq_.push_back(r.shift);
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
        if (fd < 0 || ftruncate(fd, 64) != 0) {
            perror("vboard: stats file");
            exit(1);
        }
        void* p = mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
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
    }

    int link_fd() const { return opt_.pty ? pty_master_ : client_fd_; }

    bool open_listener();
    bool open_pty();
    void accept_clients();
    bool client_gone() const;
    void drop_client(const char* why);
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
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (client_fd_ >= 0) {
            static const char busy[] =
                "spikeloom virtual board: busy, another client is connected\n";
            ssize_t ignored = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            // Closing with unread bytes would reset the connection and could destroy the line
            // before the client reads it: finish sending, discard what it sent, then close.
            shutdown(fd, SHUT_WR);
            uint8_t junk[4096];
            while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
            }
            close(fd);
            if (!opt_.quiet) fprintf(stderr, "vboard: refused a second client\n");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client_fd_ = fd;
        clients_++;
        outq_.clear();
        out_off_ = 0;
        if (!opt_.quiet) fprintf(stderr, "vboard: client connected\n");
    }
}

void Board::drop_client(const char* why) {
    close(client_fd_);
    client_fd_ = -1;
    outq_.clear();
    out_off_ = 0;
    inq_.clear();
    // A frame cut short stays open in the design's deframer: close it here, so the next client's
    // first frame is not glued to it, and let the design answer it before anyone else listens.
    if (trk_.req_len) inq_.push_back(SLIP_END);
    draining_ = true;
    drain_deadline_ = now_s() + DRAIN_MS / 1000.0;
    if (!opt_.quiet) fprintf(stderr, "vboard: client left (%s)\n", why);
}

// Move bytes between the link and the queues; wait up to timeout_ms for something to happen.
// Returns false when the server must stop.
bool Board::service(int timeout_ms) {
    if (opt_.parent && getppid() != opt_.parent) g_stop = 1;    // orphaned: nobody to serve
    if (g_stop) return false;
    pollfd fds[2];
    int n = 0, li = -1, ci = -1;
    if (draining_ && design_idle()) draining_ = false;
    if (draining_ && now_s() > drain_deadline_) {
        draining_ = false;
        // Forget what the last client is still owed: if a request of theirs was lost (receive
        // buffer overflow) its reply never comes, and counting it would keep us busy forever.
        trk_.outstanding = 0;
        if (!opt_.quiet)
            fprintf(stderr, "vboard: the design is still busy with the last client's requests; "
                            "the next client will receive the rest of their output\n");
    }
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
