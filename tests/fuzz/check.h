/*
 * check.h - properties every harness asserts on what the code under test
 * produced: an error is a 4xx with a code and a message that is valid
 * UTF-8 (it becomes a JSON string: invalid bytes would be a 500), and
 * serialises as the error body.
 */
#ifndef LG_FUZZ_CHECK_H
#define LG_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shape.h"
#include "util.h"

#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: %s:%d: %s does not hold\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Serialise `v` as the answer would be (stolen); it must serialise. */
static inline void fuzz_dump(json_t *v)
{
    char *s;

    FUZZ_REQUIRE(v != NULL);
    s = json_dumps(v, JSON_COMPACT);
    FUZZ_REQUIRE(s != NULL);
    free(s);
    json_decref(v);
}

/* An error that the caller answers: 4xx, a code, a UTF-8 message, a body. */
static inline void fuzz_client_error(const struct lg_error *err)
{
    FUZZ_REQUIRE(err->status >= 400 && err->status < 500);
    FUZZ_REQUIRE(err->code[0] != '\0');
    FUZZ_REQUIRE(utf8_valid(err->message, strlen(err->message)));
    fuzz_dump(shape_error(err->code, err->message));
}

#endif
