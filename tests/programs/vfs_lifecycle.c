/* A program that registers, unregisters, frees and re-registers its own
 * VFSes, the way SQLite's test suite and apsw do. Everything it prints must
 * be the same with and without vfscope; the last line is the number of
 * main databases it opened. Built against Debian's libsqlite3.so and
 * libsqlite3.a. Usage: vfs_lifecycle DIR */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A VFS stacked over another: opens go straight to the parent (the file
 * keeps the parent's methods), and it counts them and notes the URI's vfs
 * parameter the main database was opened with. */
typedef struct Stacked {
    sqlite3_vfs base;
    sqlite3_vfs *parent;
    int opens;
    char uri_vfs[64];
} Stacked;

static int main_dbs = 0;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static int s_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    Stacked *s = (Stacked *)v;
    s->opens++;
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        const char *u = sqlite3_uri_parameter(name, "vfs");
        snprintf(s->uri_vfs, sizeof s->uri_vfs, "%s", u ? u : "(none)");
    }
    return s->parent->xOpen(s->parent, name, f, flags, out);
}
#define P(v) (((Stacked *)(v))->parent)
static int s_delete(sqlite3_vfs *v, const char *n, int d) { return P(v)->xDelete(P(v), n, d); }
static int s_access(sqlite3_vfs *v, const char *n, int f, int *o) { return P(v)->xAccess(P(v), n, f, o); }
static int s_full(sqlite3_vfs *v, const char *n, int k, char *o) { return P(v)->xFullPathname(P(v), n, k, o); }
static void *s_dlopen(sqlite3_vfs *v, const char *n) { return P(v)->xDlOpen(P(v), n); }
static void s_dlerror(sqlite3_vfs *v, int n, char *o) { P(v)->xDlError(P(v), n, o); }
static void (*s_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { return P(v)->xDlSym(P(v), h, s); }
static void s_dlclose(sqlite3_vfs *v, void *h) { P(v)->xDlClose(P(v), h); }
static int s_random(sqlite3_vfs *v, int n, char *o) { return P(v)->xRandomness(P(v), n, o); }
static int s_sleep(sqlite3_vfs *v, int us) { return P(v)->xSleep(P(v), us); }
static int s_time(sqlite3_vfs *v, double *t) { return P(v)->xCurrentTime(P(v), t); }
static int s_lasterr(sqlite3_vfs *v, int n, char *o) { return P(v)->xGetLastError(P(v), n, o); }

/* A Stacked VFS named `name` over `parent` (NULL: the default), in memory
 * the caller owns. */
static void stack(Stacked *s, const char *name, const char *parent) {
    memset(s, 0, sizeof *s);
    s->parent = sqlite3_vfs_find(parent);
    s->base.iVersion = 1;
    s->base.szOsFile = s->parent->szOsFile;
    s->base.mxPathname = s->parent->mxPathname;
    s->base.zName = name;
    s->base.xOpen = s_open;
    s->base.xDelete = s_delete;
    s->base.xAccess = s_access;
    s->base.xFullPathname = s_full;
    s->base.xDlOpen = s_dlopen;
    s->base.xDlError = s_dlerror;
    s->base.xDlSym = s_dlsym;
    s->base.xDlClose = s_dlclose;
    s->base.xRandomness = s_random;
    s->base.xSleep = s_sleep;
    s->base.xCurrentTime = s_time;
    s->base.xGetLastError = s_lasterr;
}

static Stacked *stacked(const char *name, const char *parent) {
    Stacked *s = malloc(sizeof *s);
    stack(s, name, parent);
    return s;
}

/* Unregisters and frees, leaving poison behind: a wrapper that still
 * reached it would crash. */
static void discard(Stacked *s) {
    sqlite3_vfs_unregister(&s->base);
    memset(s, 0xAB, sizeof *s);
    free(s);
}

static const char *dir;

/* Opens DIR/name (a URI when it starts with "file:"), writes a row, reads
 * it back, closes. */
static void use(const char *name, int flags, const char *vfs) {
    char path[4096];
    if (strncmp(name, "file:", 5) == 0)
        snprintf(path, sizeof path, "file:%s/%s", dir, name + 5);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags, vfs);
    if (rc != SQLITE_OK) {
        printf("open %s: %s\n", name, sqlite3_errmsg(db));
        sqlite3_close(db);
        return;
    }
    pthread_mutex_lock(&count_lock);
    main_dbs++;
    pthread_mutex_unlock(&count_lock);
    rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);"
                          "ATTACH ':memory:' AS m; DETACH m;", 0, 0, 0);
    if (rc != SQLITE_OK) printf("write %s: %s\n", name, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The default and the list of VFSes. vfscope's own wrappers are in the
 * list (never first), and left out here: SQLite finds a connection's VFS
 * by name again for ATTACH and VACUUM. */
static void show_vfs_list(const char *when) {
    printf("%s: default %s; list", when, sqlite3_vfs_find(0)->zName);
    for (sqlite3_vfs *v = sqlite3_vfs_find(0); v; v = v->pNext)
        if (strncmp(v->zName, "vfscope", 7) != 0) printf(" %s", v->zName);
    printf("\n");
}

static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) {
        Stacked *s = stacked("churn", "unix");
        sqlite3_vfs_register(&s->base, 0);
        use("churn.db", 0, "churn");
        discard(s);
    }
    return NULL;
}

static void *opener(void *arg) {
    char plain[32], uri[64];
    snprintf(plain, sizeof plain, "plain-%ld.db", (long)arg);
    snprintf(uri, sizeof uri, "file:uri-%ld.db?vfs=unix-excl", (long)arg);
    for (int i = 0; i < 200; i++) {
        use(plain, 0, NULL);
        use(uri, SQLITE_OPEN_URI, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    dir = argv[1];
    show_vfs_list("start");

    /* A freed default: SQLite falls back to the next VFS in its list. */
    Stacked *def = stacked("app-default", NULL);
    sqlite3_vfs_register(&def->base, 1);
    use("a.db", 0, NULL);
    show_vfs_list("own default");
    printf("app-default opens %d\n", def->opens);
    discard(def);
    use("b.db", 0, NULL);
    char noise[16];
    sqlite3_randomness(sizeof noise, noise);
    sqlite3_sleep(0);
    show_vfs_list("default freed");

    /* A name registered again with another struct. */
    Stacked *first = stacked("tvfs", "unix");
    sqlite3_vfs_register(&first->base, 0);
    use("c.db", 0, "tvfs");
    printf("first tvfs opens %d\n", first->opens);
    discard(first);
    Stacked *second = stacked("tvfs", "unix");
    sqlite3_vfs_register(&second->base, 0);
    use("d.db", 0, "tvfs");
    printf("second tvfs opens %d\n", second->opens);

    /* The same memory unregistered, filled anew and registered again. */
    static Stacked reused;
    stack(&reused, "reused", "unix");
    sqlite3_vfs_register(&reused.base, 0);
    use("e.db", 0, "reused");
    sqlite3_vfs_unregister(&reused.base);
    stack(&reused, "reused", "unix-excl");
    sqlite3_vfs_register(&reused.base, 0);
    use("f.db", 0, "reused");
    printf("reused opens %d\n", reused.opens);

    /* A URI naming the VFS: the VFS reads back the name it was given. */
    use("file:g.db?vfs=tvfs&mode=rwc", SQLITE_OPEN_URI, NULL);
    printf("uri vfs seen by tvfs: %s\n", second->uri_vfs);
    use("file:h.db?vfs=no-such-vfs", SQLITE_OPEN_URI, NULL);
    discard(second);

    /* A VFS stacked over the default and made the default. */
    Stacked *over = stacked("over-default", NULL);
    printf("stacked over %s\n", over->parent->zName);
    sqlite3_vfs_register(&over->base, 1);
    use("i.db", 0, NULL);
    printf("over-default opens %d\n", over->opens);
    discard(over);

    /* One thread registers, uses and frees VFSes while others open. */
    pthread_t threads[3];
    pthread_create(&threads[0], NULL, churn, NULL);
    pthread_create(&threads[1], NULL, opener, (void *)1);
    pthread_create(&threads[2], NULL, opener, (void *)2);
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);

    show_vfs_list("end");
    printf("main databases opened %d\n", main_dbs);
    return 0;
}
