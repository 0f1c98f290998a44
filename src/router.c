/*
 * router.c - see router.h.
 */
#include "router.h"

#include <stdbool.h>
#include <string.h>

/*
 * Whether `path` matches `pattern`: equal, except that a `*` segment of the
 * pattern matches one non-empty segment of the path (no '/').
 */
static bool path_matches(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (pattern[0] == '*' && (pattern[1] == '/' || pattern[1] == '\0') && path[-1] == '/') {
            size_t seg = strcspn(path, "/");

            if (seg == 0)
                return false;
            pattern++;
            path += seg;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

const struct route *router_match(const struct route *table, size_t n, const char *method,
                                 const char *path, int *status, char *allow, size_t allowlen)
{
    size_t used = 0;

    if (allowlen)
        allow[0] = '\0';
    *status = 404;
    for (size_t i = 0; i < n; i++) {
        if (!path_matches(table[i].path, path))
            continue;
        if (!strcmp(table[i].method, method))
            return &table[i];
        *status = 405;
        if (allowlen && !strstr(allow, table[i].method)) {
            size_t need = strlen(table[i].method) + (used ? 2 : 0);
            if (used + need < allowlen) {
                if (used)
                    memcpy(allow + used, ", ", 2), used += 2;
                memcpy(allow + used, table[i].method, strlen(table[i].method) + 1);
                used += strlen(table[i].method);
            }
        }
    }
    return NULL;
}
