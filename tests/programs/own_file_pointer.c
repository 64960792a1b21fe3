/* A VFS that recognises its own files by their method table, the way
 * Litestream's VFS does (cmd/litestream-vfs/vfs_cgo.go: the connection
 * hook asks sqlite3_file_control for SQLITE_FCNTL_FILE_POINTER, compares
 * file->pMethods with its own table and reads its file id after the base
 * struct). Its files run on the default VFS's methods under a table of its
 * own; an auto-extension checks every connection as Litestream's does and
 * fails the open (SQLITE_MISUSE) when the file is not recognised. It also
 * checks SQLITE_FCNTL_VFS_POINTER and, inside a write transaction,
 * SQLITE_FCNTL_JOURNAL_POINTER. Everything it prints must be the same with
 * and without vfscope. Usage: own_file_pointer DIR */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

typedef struct OwnFile {
    sqlite3_file base;
    sqlite3_uint64 id; /* after the parent's file: szOsFile + 8 */
} OwnFile;

static sqlite3_vfs own_vfs;
static sqlite3_vfs *parent;
static sqlite3_io_methods own_methods;
static sqlite3_uint64 next_id = 41;

static sqlite3_uint64 *id_of(sqlite3_file *f) {
    return (sqlite3_uint64 *)((char *)f + parent->szOsFile);
}

static int own_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    int rc = parent->xOpen(parent, name, f, flags, out);
    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_MAIN_DB)) {
        if (own_methods.iVersion == 0) own_methods = *f->pMethods;
        f->pMethods = &own_methods;
        *id_of(f) = ++next_id;
    }
    return rc;
}

/* Litestream's litestream_file_id, in C. */
static int own_file_id(sqlite3 *db, sqlite3_uint64 *out) {
    sqlite3_file *file = 0;
    int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file);
    if (rc != SQLITE_OK || file == 0) return rc;
    if (file->pMethods != &own_methods) return SQLITE_MISUSE;
    *out = *id_of(file);
    return SQLITE_OK;
}

static int on_connection(sqlite3 *db, char **err, const void *api) {
    (void)api;
    sqlite3_vfs *vfs = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK) return SQLITE_ERROR;
    if (vfs != &own_vfs) return SQLITE_OK; /* not ours: nothing to check */
    sqlite3_uint64 id = 0;
    int rc = own_file_id(db, &id);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("not my file (%d)", rc);
        return rc;
    }
    return SQLITE_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    parent = sqlite3_vfs_find(0);
    own_vfs = *parent;
    own_vfs.zName = "own";
    own_vfs.szOsFile = parent->szOsFile + (int)sizeof(sqlite3_uint64);
    own_vfs.xOpen = own_open;
    own_vfs.pNext = 0;
    sqlite3_vfs_register(&own_vfs, 0);
    sqlite3_auto_extension((void (*)(void))on_connection);

    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/own%d.db", argv[1], i);
        sqlite3 *db = 0;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "own");
        if (rc != SQLITE_OK) {
            printf("open %d: %s\n", i, sqlite3_errmsg(db));
            sqlite3_close(db);
            return 1;
        }
        sqlite3_uint64 id = 0;
        printf("db %d: file id %llu\n", i, (unsigned long long)(own_file_id(db, &id) == SQLITE_OK ? id : 0));
        sqlite3_exec(db, "CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1);", 0, 0, 0);
        sqlite3_file *journal = 0;
        sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &journal);
        /* The journal is the default VFS's file, under its own table. */
        printf("db %d: journal %s\n", i,
               journal && journal->pMethods && journal->pMethods != &own_methods ? "the default VFS's" : "wrong");
        sqlite3_exec(db, "COMMIT;", 0, 0, 0);
        sqlite3_stmt *st = 0;
        sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, 0);
        sqlite3_step(st);
        printf("db %d: %d row\n", i, sqlite3_column_int(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    /* A connection on the default VFS passes through the hook untouched. */
    sqlite3 *db = 0;
    snprintf(path, sizeof path, "%s/plain.db", argv[1]);
    printf("plain: %s\n", sqlite3_open(path, &db) == SQLITE_OK ? "ok" : sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
}
