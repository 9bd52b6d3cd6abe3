/*
 * dev - what only a development stack (CHAT_DEV=1) serves: POST /dev/token,
 * which mints an access token for a user id, so that the chat page
 * (web/chat/) can sign a developer in with one click, as build/chat-token
 * does on the command line. Minting is auth_mint_hs256()'s (shared/auth.h),
 * the one signer both use.
 *
 * The route is ROUTE_DEV (router.h): outside a development stack it does
 * not exist, and the router answers 404 as for any unknown path. Neither
 * does it take a token: in a development stack anyone who reaches it may
 * become anyone, which is the point of a dev stack and why a deployment
 * never sets CHAT_DEV.
 *
 *   POST /dev/token  body {"user_id": uuid, "role": "authenticated" |
 *                    "service_role"} (role optional, default authenticated)
 *                    200 {"error_message": null, "data": {"token": jwt,
 *                    "user_id": uuid (lowercase), "role": ..., "expires_at":
 *                    ISO-8601}}, the token HS256 with the stack's secret,
 *                    aud CHAT_JWT_AUD, exp now + DEV_TOKEN_TTL;
 *                    400 for a bad body; 501 when the stack verifies no
 *                    HS256 token (JWKS only), so no token it mints would pass.
 */
#ifndef REST_DEV_H
#define REST_DEV_H

#include "rest.h"

#define DEV_TOKEN_TTL 3600	/* seconds a minted token lives */

int dev_token(struct rest_ctx *ctx, struct req *q, struct resp *r);

#endif
