/* A program with its own SQLite: linked with Debian's libsqlite3.a.
 * Usage: static_sqlite DB [ROWS [shutdown]] — creates t in WAL mode,
 * inserts ROWS rows in one transaction each, prints the count and the
 * SQLite version. With "shutdown" it then calls sqlite3_shutdown() and
 * sqlite3_initialize() (which makes "unix" the default VFS again) and does
 * the same in DB-again. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
        exit(1);
    }
    return rc;
}

static int count(void *out, int n, char **values, char **names) {
    (void)n; (void)names;
    *(long *)out = atol(values[0]);
    return 0;
}

static void work(const char *path, int rows) {
    sqlite3 *db = NULL;
    check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x)", 0, 0, 0), db, "create");
    for (int i = 0; i < rows; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d)", i);
        check(sqlite3_exec(db, sql, 0, 0, 0), db, "insert");
    }
    long n = -1;
    check(sqlite3_exec(db, "SELECT count(*) FROM t", count, &n, 0), db, "count");
    printf("%s: rows %ld sqlite %s\n", path, n, sqlite3_libversion());
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DB [ROWS [shutdown]]\n", argv[0]); return 2; }
    int rows = argc > 2 ? atoi(argv[2]) : 10;
    work(argv[1], rows);
    if (argc > 3 && strcmp(argv[3], "shutdown") == 0) {
        check(sqlite3_shutdown(), NULL, "shutdown");
        check(sqlite3_initialize(), NULL, "initialize");
        char again[4096];
        snprintf(again, sizeof again, "%s-again", argv[1]);
        work(again, rows);
    }
    return 0;
}
