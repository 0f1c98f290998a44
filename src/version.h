#ifndef LG_VERSION_H
#define LG_VERSION_H
#define LOOPGATE_VERSION "0.2.0-dev" /* the release in the making: RELEASES lists those made */
#endif
