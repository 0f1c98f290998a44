/*
 * router.c - see router.h.
 */
#include "router.h"

#include <string.h>

const struct route *router_match(const struct route *table, size_t n, const char *method,
                                 const char *path, int *status, char *allow, size_t allowlen)
{
    size_t used = 0;

    if (allowlen)
        allow[0] = '\0';
    *status = 404;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].path, path) != 0)
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
