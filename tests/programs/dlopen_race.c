/* Many threads dlopen the same SQLite library at once, each then opens a
 * database of its own with it and writes a row. Under vfscope every one of
 * those opens must be recorded: a dlopen may not return before the
 * library's hooks are in place, even when another thread is the one
 * loading it. Usage: dlopen_race LIBRARY THREADS */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*open_v2_fn)(const char *, void **, int, const char *);
typedef int (*exec_fn)(void *, const char *, void *, void *, char **);
typedef int (*close_fn)(void *);

static const char *library;
static pthread_barrier_t start;

static void *worker(void *arg) {
    long n = (long)arg;
    pthread_barrier_wait(&start);
    void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); exit(1); }
    open_v2_fn open_v2 = (open_v2_fn)dlsym(lib, "sqlite3_open_v2");
    exec_fn exec = (exec_fn)dlsym(lib, "sqlite3_exec");
    close_fn close = (close_fn)dlsym(lib, "sqlite3_close");
    char path[64];
    snprintf(path, sizeof path, "race-%ld.db", n);
    void *db = NULL;
    if (open_v2(path, &db, 0x2 | 0x4, NULL) != 0) { fprintf(stderr, "open %s\n", path); exit(1); }
    if (exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL, NULL, NULL) != 0) exit(1);
    close(db);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s LIBRARY THREADS\n", argv[0]); return 2; }
    library = argv[1];
    int threads = atoi(argv[2]);
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    pthread_barrier_init(&start, NULL, threads);
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("opened %d\n", threads);
    return 0;
}
