/*
 * api.h - the agent REST API: route table, authentication, handlers.
 */
#ifndef LG_API_H
#define LG_API_H

#include "http.h"

/* Route, authenticate and answer one request. Always answers. */
void api_handle(struct http_req *r);

/*
 * Add every route pattern of the table to the route labels of the metrics
 * (metrics.h); the master calls it once, before it forks.
 */
void api_metrics_routes(void);

#endif
