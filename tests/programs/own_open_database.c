/* A program linked with Debian's libsqlite3.a that has a function of its
 * own named openDatabase (global, another signature). vfscope must hook
 * SQLite's open functions, not this one, and run it unchanged.
 * Usage: own_open_database DB */
#include <sqlite3.h>
#include <stdio.h>

int openDatabase(const char *label, int times) {
    int sum = 0;
    for (int i = 0; i < times; i++) sum += label[i % 3];
    return sum;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    sqlite3 *db = NULL;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) return 1;
    if (sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", 0, 0, 0) != SQLITE_OK) return 1;
    sqlite3_close(db);
    printf("own openDatabase %d\n", openDatabase("abc", 6));
    return 0;
}
