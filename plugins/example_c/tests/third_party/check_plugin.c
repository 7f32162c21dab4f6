/* dlopens the third-party plugin and checks its entry points. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <slipstream.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    void *lib = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", PLUGIN_PATH, dlerror());
        return 1;
    }
    uint32_t (*version)(void);
    slipstream_plugin *(*create)(void);
    *(void **)&version = dlsym(lib, "slipstream_abi_version");
    *(void **)&create = dlsym(lib, "_create_plugin");
    int ok = version != NULL && create != NULL && version() == SLIPSTREAM_ABI_VERSION;
    if (ok) {
        slipstream_plugin *p = create();
        ok = p != NULL && strcmp(p->vtable->name(p), "counter") == 0;
        if (p != NULL) p->vtable->destroy(p);
    }
    dlclose(lib);
    printf("third-party plugin %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
