// Tests of the C++ example plugin: dlopens the built module and drives it with a fake host
// through its C entry points, as the Go host does. Above all: a C++ exception thrown inside a
// callback becomes an error return with its message (or a log line), never std::terminate.
//
// Usage: test_example_cpp <libslipstream_example_cpp.so> <work dir>

#include <slipstream.h>

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

int failures = 0;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

struct FakeHost {
    slipstream_host host{};
    std::map<std::string, std::string> config;
    std::vector<std::pair<int32_t, std::string>> logs;

    FakeHost() {
        host.struct_size = sizeof host;
        host.ctx = this;
        host.log = [](void *ctx, int32_t level, const char *msg) {
            static_cast<FakeHost *>(ctx)->logs.emplace_back(level, msg);
        };
        host.config_get = [](void *ctx, const char *key, char *buf, uint64_t cap) -> int64_t {
            auto &cfg = static_cast<FakeHost *>(ctx)->config;
            auto it = cfg.find(key);
            if (it == cfg.end()) return -1;
            if (buf != nullptr && cap > 0) {
                size_t n = std::min<size_t>(it->second.size(), static_cast<size_t>(cap - 1));
                std::memcpy(buf, it->second.data(), n);
                buf[n] = '\0';
            }
            return static_cast<int64_t>(it->second.size());
        };
    }
    bool logged(int32_t level, const std::string &needle) const {
        for (const auto &[l, m] : logs) {
            if (l == level && m.find(needle) != std::string::npos) return true;
        }
        return false;
    }
};

using create_fn = slipstream_plugin *(*)();
create_fn create_plugin = nullptr;

struct Instance {
    slipstream_plugin *p;
    const slipstream_plugin_vtable *vt;
    char buf[256];
    slipstream_error err{buf, sizeof buf};

    Instance() : p(create_plugin()), vt(p->vtable) {}
    ~Instance() { vt->destroy(p); }
    int32_t load(FakeHost &h, const std::string &config_file) {
        slipstream_load_args args{};
        args.struct_size = sizeof args;
        args.config_file = config_file.c_str();
        args.config_json = "{}";
        args.host = &h.host;
        buf[0] = '\0';
        return vt->on_load(p, &args, &err);
    }
    int32_t broadcast(const slipstream_event &ev) {
        buf[0] = '\0';
        return vt->on_broadcast(p, &ev, &err);
    }
    int32_t batch(const std::vector<slipstream_event> &evs) {
        buf[0] = '\0';
        return vt->on_broadcast_batch(p, evs.data(), evs.size(), &err);
    }
    std::string message() const { return buf; }
};

slipstream_bytes bytes(const char *s) {
    slipstream_bytes b;
    b.ptr = reinterpret_cast<const uint8_t *>(s);
    b.len = std::strlen(s);
    return b;
}

slipstream_event update(const char *prog, const char *map, uint32_t height) {
    slipstream_event ev;
    std::memset(&ev, 0, sizeof ev);
    ev.kind = SLIPSTREAM_EVENT_MAPPING_UPDATE;
    ev.block_height = height;
    ev.mapping_update.program_id = bytes(prog);
    ev.mapping_update.mapping_name = bytes(map);
    ev.mapping_update.key = bytes("k");
    ev.mapping_update.value = bytes("v");
    return ev;
}

slipstream_event block(uint32_t height) {
    slipstream_event ev;
    std::memset(&ev, 0, sizeof ev);
    ev.kind = SLIPSTREAM_EVENT_BLOCK;
    ev.block_height = height;
    ev.block.block = bytes("\x01\x02");
    return ev;
}

std::string read_file(const std::string &path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void test_counts_and_summary(const std::string &dir) {
    FakeHost h;
    h.config["summary"] = "summary.txt"; // relative to the config file's directory
    h.config["top"] = "1";
    Instance in;
    CHECK(std::strcmp(in.vt->name(in.p), "event-counter") == 0);
    CHECK(in.vt->struct_size == sizeof(slipstream_plugin_vtable));
    CHECK(in.load(h, dir + "/counter.json5") == SLIPSTREAM_OK);
    CHECK(in.vt->subscribed_events(in.p) == SLIPSTREAM_MASK_ALL);
    CHECK(in.broadcast(update("credits.aleo", "account", 7)) == SLIPSTREAM_OK);
    CHECK(in.batch({update("credits.aleo", "account", 8), update("credits.aleo", "bonded", 8), block(8)}) ==
          SLIPSTREAM_OK);
    slipstream_event unknown = block(9);
    unknown.kind = 99; // a kind from a newer host
    CHECK(in.broadcast(unknown) == SLIPSTREAM_OK);
    in.vt->on_unload(in.p);
    const std::string want = "event-counter: 4 events in heights 7..8 (MappingUpdate 3, MappingRemoval 0, "
                             "StakingReward 0, Block 1), 2 mappings; busiest: credits.aleo/account 2";
    CHECK(h.logged(SLIPSTREAM_LOG_INFO, want));
    CHECK(read_file(dir + "/summary.txt") == want + "\n");
    if (!h.logged(SLIPSTREAM_LOG_INFO, want)) {
        for (const auto &[l, m] : h.logs) std::fprintf(stderr, "log %d: %s\n", l, m.c_str());
    }
}

// The exception thrown inside count() (std::length_error) becomes the callback's error.
void test_exception_becomes_an_error(const std::string &dir) {
    FakeHost h;
    h.config["max_mappings"] = "1";
    Instance in;
    CHECK(in.load(h, dir + "/counter.json5") == SLIPSTREAM_OK);
    CHECK(in.broadcast(update("p", "a", 1)) == SLIPSTREAM_OK);
    CHECK(in.broadcast(update("p", "b", 1)) == SLIPSTREAM_ERROR);
    CHECK(in.message() == "on_broadcast: more than max_mappings (1) mappings: not counting p/b");
    // Still alive and counting; in a batch every event is tried, the first message reported.
    CHECK(in.broadcast(update("p", "a", 2)) == SLIPSTREAM_OK);
    CHECK(in.batch({update("p", "c", 3), update("p", "a", 3), update("p", "d", 3), block(3)}) == SLIPSTREAM_ERROR);
    CHECK(in.message() == "on_broadcast_batch: more than max_mappings (1) mappings: not counting p/c "
                          "(and 1 more failed events in this batch)");
    // A truncated message still ends in a NUL within the buffer.
    char small[8];
    slipstream_error err{small, sizeof small};
    slipstream_event ev = update("p", "e", 4);
    CHECK(in.vt->on_broadcast(in.p, &ev, &err) == SLIPSTREAM_ERROR);
    CHECK(std::string(small) == "on_broa");
    in.vt->on_unload(in.p);
    CHECK(h.logged(SLIPSTREAM_LOG_INFO, "event-counter: 4 events in heights 1..3 (MappingUpdate 3, MappingRemoval 0, StakingReward 0, Block 1)"));
}

// std::invalid_argument / std::runtime_error thrown in on_load fail the load with the message.
void test_load_errors(const std::string &dir) {
    const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
        {{"max_mappings", "many"}, "on_load: config key max_mappings must be a positive integer, not \"many\""},
        {{"top", "-1"}, "on_load: config key top must be a positive integer, not \"-1\""},
        {{"top", "99999999999999999999999"}, "on_load: config key top must be a positive integer, not \"99999999999999999999999\""},
        {{"summary", ""}, "on_load: config key summary is empty"},
        {{"summary", "no/such/dir/s.txt"}, "on_load: cannot open " + dir + "/no/such/dir/s.txt"},
    };
    for (const auto &[kv, want] : cases) {
        FakeHost h;
        h.config[kv.first] = kv.second;
        Instance in;
        CHECK(in.load(h, dir + "/counter.json5") == SLIPSTREAM_ERROR);
        if (in.message() != want) std::fprintf(stderr, "got \"%s\"\nwant \"%s\"\n", in.message().c_str(), want.c_str());
        CHECK(in.message() == want);
    }
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <plugin library> <work dir>\n", argv[0]);
        return 2;
    }
    mkdir(argv[2], 0755);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    auto version = reinterpret_cast<uint32_t (*)()>(dlsym(lib, "slipstream_abi_version"));
    create_plugin = reinterpret_cast<create_fn>(dlsym(lib, "_create_plugin"));
    if (version == nullptr || create_plugin == nullptr) {
        std::fprintf(stderr, "missing entry points\n");
        return 2;
    }
    CHECK(version() == SLIPSTREAM_ABI_VERSION);
    const std::string dir = argv[2];
    test_counts_and_summary(dir);
    test_exception_becomes_an_error(dir);
    test_load_errors(dir);
    dlclose(lib);
    if (failures != 0) {
        std::fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    std::puts("example_cpp: all checks passed");
    return 0;
}
