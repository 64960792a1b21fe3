/* A host that dlopens a plugin by bare name, found only through its own
 * DT_RUNPATH ($ORIGIN/lib): a dlopen interposer must not lose that. */
#include <dlfcn.h>
#include <stdio.h>

int main(void) {
    void *plugin = dlopen("libvfscope_test_plugin.so", RTLD_NOW);
    if (!plugin) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    int (*answer)(void) = (int (*)(void))dlsym(plugin, "answer");
    printf("plugin answers %d\n", answer());
    void *missing = dlopen("libvfscope_no_such_plugin.so", RTLD_NOW);
    printf("missing: %s\n", missing ? "loaded?" : (dlerror() ? "error set" : "no error"));
    return 0;
}
