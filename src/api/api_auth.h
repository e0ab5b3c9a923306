/*
 * api/api_auth.h — HTTP side of authentication: the http_hooks.authorize
 * implementation and the handlers of the token endpoints (SPEC §5.5, §5.6).
 * The decisions themselves live in auth/ (auth_authorize, auth_check, the
 * token functions); this file only moves data between requests and them.
 *
 * Threads: api_auth_authorize runs on the HTTP I/O thread, and again on a
 * worker after it returned RC_AGAIN; the handlers run on HTTP worker threads.
 */
#ifndef API_API_AUTH_H
#define API_API_AUTH_H

#include "http/http.h"

struct auth;

/* Fallback home of the auth instance until struct app carries it: set it
 * once at startup (after auth_open) and clear it after auth_close. */
extern struct auth *api_auth_global;

/* The auth instance serving req (NULL if none was opened: then every request
 * is allowed and the token endpoints answer 503). */
struct auth *api_auth_instance(struct http_request *req);

/* http_hooks.authorize: allowlist, then token and permission check for the
 * route's perm (SPEC §5.2-§5.4). Allowed -> RC_OK (principal set for the
 * access log). Otherwise responds 401/403 (write routes with the `code`
 * field) or 500 and returns RC_UNAUTH / RC_DENIED / RC_INTERNAL. On an I/O
 * thread it consults only the token cache: a miss returns RC_AGAIN (nothing
 * answered) and the http layer calls it again on a worker. Routes
 * marked HTTP_PERM_PUBLIC whose path is not on auth.allowlist need any valid
 * token. `app` is unused (the instance comes from api_auth_instance). */
int api_auth_authorize(void *app, struct http_request *req, const struct http_route *route);

/* Handlers (route table entries in the report / docs/auth.md). */
void api_auth_verify(struct http_request *req);        /* GET    /api/v1/auth/verify */
void api_auth_tokens_list(struct http_request *req);   /* GET    /api/v1/auth/tokens */
void api_auth_tokens_create(struct http_request *req); /* POST   /api/v1/auth/tokens */
void api_auth_token_get(struct http_request *req);     /* GET    /api/v1/auth/tokens/{id} */
void api_auth_token_update(struct http_request *req);  /* PATCH  /api/v1/auth/tokens/{id} */
void api_auth_token_delete(struct http_request *req);  /* DELETE /api/v1/auth/tokens/{id} */
void api_auth_token_rotate(struct http_request *req);  /* POST   /api/v1/auth/tokens/{id}/rotate */
void api_auth_token_revoke(struct http_request *req);  /* POST   /api/v1/auth/tokens/{id}/revoke */
void api_auth_cache_stats(struct http_request *req);   /* GET    /api/v1/auth/cache/stats */
void api_auth_cache_invalidate(struct http_request *req); /* POST  /api/v1/auth/cache/invalidate */

#endif
