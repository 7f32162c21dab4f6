// counter.cpp — the event counter: an example Slipstream plugin in C++17.
//
// Counts the events it receives per kind and per mapping (program ID + mapping name) and the
// range of block heights, and writes a summary to the node's log on unload (and, when the
// config has `summary`, to that file as well, replaced at every unload).
//
// Config (beside libpath):
//   summary:      optional, a file for the summary; relative to the config file's directory
//                 (slipstream_config_path), as libpath is
//   max_mappings: optional, how many distinct mappings to count (default 100000); an event of
//                 one more mapping fails with an error (the plugin stays loaded)
//   top:          optional, how many of the busiest mappings the summary lists (default 5)
//
// What it shows about C++ plugins:
//   - No designated initializers (C++20): the vtable is filled by a function.
//   - No exception crosses the C boundary: every callback runs its body under guard() (or
//     catches itself), which turns a C++ exception into SLIPSTREAM_ERROR with the exception's
//     message in `err`, or into a log line for callbacks without an error return.
//   - The instance derives from slipstream_plugin, so `self` converts back with static_cast.

#include <slipstream.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr const char *kind_names[SLIPSTREAM_EVENT_KIND_COUNT] = {"MappingUpdate", "MappingRemoval",
                                                                 "StakingReward", "Block"};

// The node's encodings are bytes: show printable ones as text, anything else as hex.
std::string show(const slipstream_bytes &b) {
    const bool printable = b.len > 0 && std::all_of(b.ptr, b.ptr + b.len, [](uint8_t c) { return c >= 0x20 && c < 0x7f; });
    if (printable) return std::string(reinterpret_cast<const char *>(b.ptr), static_cast<size_t>(b.len));
    static const char hex[] = "0123456789abcdef";
    std::string out = "0x";
    for (uint64_t i = 0; i < b.len; i++) {
        out += hex[b.ptr[i] >> 4];
        out += hex[b.ptr[i] & 15];
    }
    return out;
}

struct Counter final : slipstream_plugin {
    const slipstream_host *host = nullptr;
    std::array<uint64_t, SLIPSTREAM_EVENT_KIND_COUNT> per_kind{};
    std::map<std::pair<std::string, std::string>, uint64_t> per_mapping;
    uint64_t max_mappings = 100000;
    uint64_t top = 5;
    std::string summary_path;
    uint32_t first_height = 0, last_height = 0;
    bool any = false;

    void log(int32_t level, const std::string &msg) const {
        if (host != nullptr && host->struct_size >= offsetof(slipstream_host, log) + sizeof host->log &&
            host->log != nullptr) {
            host->log(host->ctx, level, msg.c_str());
        }
    }

    void count(const slipstream_event &ev) {
        if (ev.kind >= SLIPSTREAM_EVENT_KIND_COUNT) return; // a kind from a newer host: ignore
        if (ev.kind == SLIPSTREAM_EVENT_MAPPING_UPDATE || ev.kind == SLIPSTREAM_EVENT_MAPPING_REMOVAL) {
            const slipstream_bytes &prog = ev.kind == SLIPSTREAM_EVENT_MAPPING_UPDATE ? ev.mapping_update.program_id
                                                                                     : ev.mapping_removal.program_id;
            const slipstream_bytes &map = ev.kind == SLIPSTREAM_EVENT_MAPPING_UPDATE ? ev.mapping_update.mapping_name
                                                                                    : ev.mapping_removal.mapping_name;
            auto key = std::make_pair(show(prog), show(map));
            auto it = per_mapping.find(key);
            if (it == per_mapping.end()) {
                if (per_mapping.size() >= max_mappings) {
                    throw std::length_error("more than max_mappings (" + std::to_string(max_mappings) +
                                            ") mappings: not counting " + key.first + "/" + key.second);
                }
                it = per_mapping.emplace(std::move(key), 0).first;
            }
            it->second++;
        }
        per_kind[ev.kind]++;
        if (!any || ev.block_height < first_height) first_height = ev.block_height;
        if (!any || ev.block_height > last_height) last_height = ev.block_height;
        any = true;
    }

    std::string summary() const {
        std::ostringstream out;
        uint64_t total = 0;
        for (uint64_t n : per_kind) total += n;
        out << "event-counter: " << total << " events";
        if (any) out << " in heights " << first_height << ".." << last_height;
        out << " (";
        for (size_t k = 0; k < per_kind.size(); k++) out << (k ? ", " : "") << kind_names[k] << ' ' << per_kind[k];
        out << "), " << per_mapping.size() << " mappings";
        std::vector<std::pair<uint64_t, std::string>> busiest;
        for (const auto &[mapping, n] : per_mapping) busiest.emplace_back(n, mapping.first + "/" + mapping.second);
        std::stable_sort(busiest.begin(), busiest.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
        if (busiest.size() > top) busiest.resize(static_cast<size_t>(top));
        for (size_t i = 0; i < busiest.size(); i++) {
            out << (i ? ", " : "; busiest: ") << busiest[i].second << ' ' << busiest[i].first;
        }
        return out.str();
    }
};

Counter *self_of(slipstream_plugin *p) { return static_cast<Counter *>(p); }

// Runs body(); a C++ exception becomes SLIPSTREAM_ERROR with "<what>: <message>" in err.
template <typename F> int32_t guard(const char *what, slipstream_error *err, F &&body) noexcept {
    try {
        return body();
    } catch (const std::exception &e) {
        std::string msg = std::string(what) + ": " + e.what();
        return slipstream_error_copy(err, msg.c_str());
    } catch (...) {
        std::string msg = std::string(what) + ": unknown exception";
        return slipstream_error_copy(err, msg.c_str());
    }
}

// A config value as text (std::nullopt-like: false when absent).
bool config_text(const slipstream_host *host, const char *key, std::string &out) {
    if (host == nullptr || host->struct_size < offsetof(slipstream_host, config_get) + sizeof host->config_get ||
        host->config_get == nullptr) {
        return false;
    }
    int64_t n = host->config_get(host->ctx, key, nullptr, 0);
    if (n < 0) return false;
    std::string buf(static_cast<size_t>(n) + 1, '\0');
    n = host->config_get(host->ctx, key, &buf[0], buf.size());
    if (n < 0) return false;
    buf.resize(std::min(static_cast<size_t>(n), buf.size() - 1));
    out = buf;
    return true;
}

uint64_t config_count(const slipstream_host *host, const char *key, uint64_t def) {
    std::string text;
    if (!config_text(host, key, text)) return def;
    size_t used = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(text, &used); // throws std::invalid_argument / std::out_of_range
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text.size() || text[0] == '-' || v == 0) {
        throw std::invalid_argument(std::string("config key ") + key + " must be a positive integer, not \"" + text + "\"");
    }
    return v;
}

// ---- the callbacks -------------------------------------------------------------------------

const char *counter_name(const slipstream_plugin *) { return "event-counter"; }

void counter_destroy(slipstream_plugin *self) { delete self_of(self); } // destructors do not throw

int32_t counter_on_load(slipstream_plugin *p, const slipstream_load_args *args, slipstream_error *err) {
    return guard("on_load", err, [&] {
        Counter *self = self_of(p);
        self->host = args->host;
        self->max_mappings = config_count(args->host, "max_mappings", self->max_mappings);
        self->top = config_count(args->host, "top", self->top);
        int64_t n = slipstream_config_path(args, "summary", nullptr, 0);
        if (n >= 0) {
            std::string path(static_cast<size_t>(n) + 1, '\0');
            slipstream_config_path(args, "summary", &path[0], path.size());
            path.resize(static_cast<size_t>(n));
            if (path.empty()) throw std::invalid_argument("config key summary is empty");
            std::ofstream probe(path, std::ios::app); // fail now, not at unload
            if (!probe) throw std::runtime_error("cannot open " + path);
            self->summary_path = std::move(path);
        }
        return SLIPSTREAM_OK;
    });
}

void counter_on_unload(slipstream_plugin *p) {
    Counter *self = self_of(p);
    try {
        const std::string text = self->summary();
        self->log(SLIPSTREAM_LOG_INFO, text);
        if (!self->summary_path.empty()) {
            std::ofstream out(self->summary_path, std::ios::trunc);
            out << text << '\n';
            if (!out.flush()) self->log(SLIPSTREAM_LOG_ERROR, "event-counter: cannot write " + self->summary_path);
        }
    } catch (const std::exception &e) {
        self->log(SLIPSTREAM_LOG_ERROR, std::string("event-counter: on_unload: ") + e.what());
    } catch (...) {
        self->log(SLIPSTREAM_LOG_ERROR, "event-counter: on_unload: unknown exception");
    }
}

uint64_t counter_subscribed_events(const slipstream_plugin *) { return SLIPSTREAM_MASK_ALL; }

int32_t counter_on_broadcast(slipstream_plugin *p, const slipstream_event *ev, slipstream_error *err) {
    return guard("on_broadcast", err, [&] {
        self_of(p)->count(*ev);
        return SLIPSTREAM_OK;
    });
}

// Counts every event of the batch; the first failure's message is reported (with how many failed).
int32_t counter_on_broadcast_batch(slipstream_plugin *p, const slipstream_event *evs, uint64_t count,
                                   slipstream_error *err) {
    return guard("on_broadcast_batch", err, [&] {
        Counter *self = self_of(p);
        std::string first;
        uint64_t failed = 0;
        for (uint64_t i = 0; i < count; i++) {
            try {
                self->count(evs[i]);
            } catch (const std::exception &e) {
                if (failed++ == 0) first = e.what();
            }
        }
        if (failed == 0) return SLIPSTREAM_OK;
        if (failed > 1) first += " (and " + std::to_string(failed - 1) + " more failed events in this batch)";
        throw std::runtime_error(first);
    });
}

constexpr slipstream_plugin_vtable make_vtable() {
    slipstream_plugin_vtable v{}; // every optional callback NULL until set
    v.struct_size = sizeof v;
    v.abi_major = SLIPSTREAM_ABI_MAJOR;
    v.abi_minor = SLIPSTREAM_ABI_MINOR;
    v.name = counter_name;
    v.destroy = counter_destroy;
    v.on_load = counter_on_load;
    v.on_unload = counter_on_unload;
    v.subscribed_events = counter_subscribed_events;
    v.on_broadcast = counter_on_broadcast;
    v.on_broadcast_batch = counter_on_broadcast_batch;
    return v;
}

constexpr slipstream_plugin_vtable counter_vtable = make_vtable(); // built at compile time

slipstream_plugin *counter_create() {
    Counter *c = new (std::nothrow) Counter(); // NULL, not std::bad_alloc, on failure
    if (c == nullptr) return nullptr;
    c->vtable = &counter_vtable;
    return c;
}

} // namespace

extern "C" {
SLIPSTREAM_DECLARE_PLUGIN(counter_create)
}
