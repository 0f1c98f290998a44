/*
 * apikey.h - `loopgate apikey create|list|revoke`.
 *
 * A key is "lg_" followed by 40 hex digits (160 random bits). Only its
 * SHA-256 is stored; the key is printed once, at creation.
 */
#ifndef LG_APIKEY_H
#define LG_APIKEY_H

#include "config.h"

#define APIKEY_PREFIX_LEN 11 /* "lg_" + 8 hex digits, shown in listings */
#define APIKEY_LEN 43        /* "lg_" + 40 hex digits */

int apikey_main(struct config *cfg, int argc, char **argv);

#endif
