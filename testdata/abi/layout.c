/* Prints the size of every ABI struct and the offset and size of each of its fields, one
   "name value" pair per line, for the Go and Rust layout tests to compare with their mirrors. */
#include <stdio.h>
#include "slipstream.h"

#define SIZE(T) printf("sizeof(%s) %zu\n", #T, sizeof(T))
#define FIELD(T, f) printf("%s.%s %zu %zu\n", #T, #f, offsetof(T, f), sizeof(((T *)0)->f))

int main(void) {
    SIZE(slipstream_bytes);
    FIELD(slipstream_bytes, ptr);
    FIELD(slipstream_bytes, len);

    SIZE(slipstream_error);
    FIELD(slipstream_error, buf);
    FIELD(slipstream_error, cap);

    SIZE(slipstream_event);
    FIELD(slipstream_event, kind);
    FIELD(slipstream_event, block_height);
    FIELD(slipstream_event, mapping_update.program_id);
    FIELD(slipstream_event, mapping_update.mapping_name);
    FIELD(slipstream_event, mapping_update.key);
    FIELD(slipstream_event, mapping_update.value);
    FIELD(slipstream_event, mapping_removal.program_id);
    FIELD(slipstream_event, mapping_removal.mapping_name);
    FIELD(slipstream_event, mapping_removal.key);
    FIELD(slipstream_event, mapping_removal.has_key);
    FIELD(slipstream_event, mapping_removal.reserved);
    FIELD(slipstream_event, staking_reward.staker);
    FIELD(slipstream_event, staking_reward.validator);
    FIELD(slipstream_event, staking_reward.reward);
    FIELD(slipstream_event, staking_reward.new_stake);
    FIELD(slipstream_event, block.block);
    FIELD(slipstream_event, reserved);

    SIZE(slipstream_host);
    FIELD(slipstream_host, struct_size);
    FIELD(slipstream_host, reserved);
    FIELD(slipstream_host, ctx);
    FIELD(slipstream_host, log);
    FIELD(slipstream_host, config_get);

    SIZE(slipstream_load_args);
    FIELD(slipstream_load_args, struct_size);
    FIELD(slipstream_load_args, is_reload);
    FIELD(slipstream_load_args, reserved);
    FIELD(slipstream_load_args, config_file);
    FIELD(slipstream_load_args, config_json);
    FIELD(slipstream_load_args, host);

    SIZE(slipstream_plugin_vtable);
    FIELD(slipstream_plugin_vtable, struct_size);
    FIELD(slipstream_plugin_vtable, abi_major);
    FIELD(slipstream_plugin_vtable, abi_minor);
    FIELD(slipstream_plugin_vtable, name);
    FIELD(slipstream_plugin_vtable, destroy);
    FIELD(slipstream_plugin_vtable, on_load);
    FIELD(slipstream_plugin_vtable, on_unload);
    FIELD(slipstream_plugin_vtable, subscribed_events);
    FIELD(slipstream_plugin_vtable, on_broadcast);
    FIELD(slipstream_plugin_vtable, on_broadcast_batch);

    SIZE(slipstream_plugin);
    FIELD(slipstream_plugin, vtable);

    printf("SLIPSTREAM_ABI_VERSION %u\n", (unsigned)SLIPSTREAM_ABI_VERSION);
    printf("SLIPSTREAM_EVENT_KIND_COUNT %u\n", (unsigned)SLIPSTREAM_EVENT_KIND_COUNT);
    printf("SLIPSTREAM_MASK_ALL %llu\n", (unsigned long long)SLIPSTREAM_MASK_ALL);
    return 0;
}
