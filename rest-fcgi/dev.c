#include "dev.h"
#include "chrono.h"
#include "jsonutil.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int dev_token(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	const char *user = NULL, *role = NULL;
	char id[UUID_STR_SIZE], expires[CHRONO_ISO_SIZE], err[256];
	json_object *body = NULL, *data = NULL;
	char *token = NULL;
	time_t now = time(NULL);
	int admin, rc;

	if (!ctx->cfg->jwt_secret[0]) {
		rc = resp_error(r, 501, "this stack verifies no HS256 token "
				"(SUPABASE_JWKS_FILE only): /dev/token cannot mint one");
		goto out;
	}
	body = json_parse_object(q->body ? q->body : "", q->body_len, "body", err, sizeof(err));
	if (!body) {
		rc = resp_error(r, 400, "%s", err);
		goto out;
	}
	rc = json_get_string(body, "user_id", &user, err, sizeof(err));
	if (rc < 0 || json_get_string(body, "role", &role, err, sizeof(err)) < 0) {
		rc = resp_error(r, 400, "%s", err);
		goto out;
	}
	if (!user) {
		rc = resp_error(r, 400, "field 'user_id' is required");
		goto out;
	}
	if (uuid_norm(user, id)) {
		rc = resp_error(r, 400, "field 'user_id' is not a valid UUID");
		goto out;
	}
	if (!role)
		role = "authenticated";
	if (strcmp(role, "authenticated") && strcmp(role, "service_role")) {
		rc = resp_error(r, 400,
				"field 'role' must be \"authenticated\" or \"service_role\"");
		goto out;
	}
	admin = !strcmp(role, "service_role");
	token = auth_mint_hs256(ctx->cfg->jwt_secret, id, ctx->cfg->jwt_aud, admin,
				DEV_TOKEN_TTL, now, err, sizeof(err));
	if (!token || chrono_iso_from_s((int64_t)now + DEV_TOKEN_TTL, expires)) {
		log_error("dev token for %s: %s", id, token ? "expiry out of range" : err);
		rc = resp_error(r, 500, "internal server error");
		goto out;
	}
	data = json_object_new_object();
	if (!data || json_object_object_add(data, "token", json_object_new_string(token)) ||
	    json_object_object_add(data, "user_id", json_object_new_string(id)) ||
	    json_object_object_add(data, "role", json_object_new_string(role)) ||
	    json_object_object_add(data, "expires_at", json_object_new_string(expires))) {
		rc = resp_error(r, 500, "out of memory");
		goto out;
	}
	/* Never the token itself: logs are not secret. */
	log_info("dev token minted for user %s, role %s", id, role);
	rc = resp_data(r, 200, data);
	data = NULL;	/* resp_data took it */
out:
	json_object_put(data);
	json_object_put(body);
	free(token);
	return rc;
}
