# Keyway's bundled authorisation policy.
#
# The plugin evaluates data.keyway.authz.decision for every request. The
# input document, the role semantics and the reasons are described in
# docs/authz.md; this file is the reference.
package keyway.authz

# ---------------------------------------------------------------------------
# The decision
# ---------------------------------------------------------------------------

# decision is what the plugin returns: allow, and the reasons that say why.
# Deny wins: any denial (custom, by role, or an invalid request) refuses the
# request whatever the allows say.
decision := {"allow": true, "reasons": allow_reasons} if {
	count(denials) == 0
	count(allowed_by) > 0
} else := {"allow": false, "reasons": denials} if {
	count(denials) > 0
} else := {"allow": false, "reasons": [no_allow_reason]}

# denials lists every reason to refuse, custom modules' first, then request
# problems, then the applicable roles' denies in role order.
denials := array.concat(array.concat(custom_reasons, invalid_reasons), role_deny_reasons)

custom_reasons := [reason("deny", "", "custom", msg) | some msg in custom_messages]

invalid_reasons := [reason("deny", "", rule, msg) | some [rule, msg] in invalid]

role_deny_reasons := [reason("deny", role_name(i), "deny", sprintf("role %s denies %s", [role_name(i), target])) |
	some i in denied_by
]

allow_reasons := [reason("allow", role_name(i), "allow", sprintf("role %s allows %s", [role_name(i), target])) |
	some i in allowed_by
]

no_allow_reason := reason(
	"deny", "", "default",
	sprintf("no role of %s allows %s (roles: %s)", [identity_name, quoted_target, applicable_names]),
)

reason(effect, role, rule, msg) := {"effect": effect, "role": role, "rule": rule, "message": msg}

# ---------------------------------------------------------------------------
# Operator modules: every message of data.keyway.custom.deny denies.
# ---------------------------------------------------------------------------

custom_messages contains msg if {
	some x in data.keyway.custom.deny
	msg := as_message(x)
}

as_message(x) := x if is_string(x) else := sprintf("%v", [x])

# ---------------------------------------------------------------------------
# Requests that cannot be decided are refused.
# ---------------------------------------------------------------------------

known_actions := {"db.connect", "db.list", "admin"}

invalid contains ["action", sprintf("unknown action %q", [action])] if not action in known_actions

invalid contains ["request", "no database user was given"] if {
	action == "db.connect"
	db_user == ""
}

# The plugin refuses operator modules that define deny otherwise; this
# keeps the policy closed should one slip through.
invalid contains ["custom", "custom policy error: data.keyway.custom.deny must be a set of messages"] if {
	d := data.keyway.custom.deny
	not is_set(d)
}

# ---------------------------------------------------------------------------
# What each action asks, and which roles allow or deny it
# ---------------------------------------------------------------------------

allowed_by := connect_allowed_by if action == "db.connect"

allowed_by := list_allowed_by if action == "db.list"

allowed_by := admin_allowed_by if action == "admin"

default allowed_by := set()

denied_by := connect_denied_by if action == "db.connect"

denied_by := list_denied_by if action == "db.list"

denied_by := admin_denied_by if action == "admin"

default denied_by := set()

# target names what was asked, as in "role access allows <target>".
target := sprintf("db user %s on %s", [db_user, db_display]) if {
	action == "db.connect"
	db_name_given == ""
} else := sprintf("db user %s with database %s on %s", [db_user, db_name, db_display]) if {
	action == "db.connect"
} else := sprintf("listing %s", [db_display]) if {
	action == "db.list"
} else := action

# quoted_target is target with the requested names quoted, for the
# message shown when nothing allowed the request.
quoted_target := sprintf("db user %q on %s", [db_user, db_display]) if {
	action == "db.connect"
	db_name_given == ""
} else := sprintf("db user %q with database %q on %s", [db_user, db_name, db_display]) if {
	action == "db.connect"
} else := target

# db.connect: an allow must match the labels, the user and the database name.
connect_allowed_by contains i if {
	some i in applicable
	a := rule_of(i, "allow")
	labels_match(field(a, "db_labels"), db_labels)
	list_match(field(a, "db_users"), db_user)
	list_match(field(a, "db_names"), db_name)
}

# A deny matches when each of its non-empty dimensions matches; a deny with
# no dimension matches nothing.
connect_denied_by contains i if {
	some i in applicable
	d := rule_of(i, "deny")
	has_dimension(d)
	deny_labels_match(d)
	deny_list_match(d, "db_users", db_user)
	deny_list_match(d, "db_names", db_name)
}

# db.list: visibility follows the labels alone.
list_allowed_by contains i if {
	some i in applicable
	labels_match(field(rule_of(i, "allow"), "db_labels"), db_labels)
}

# Only a deny on labels alone hides a database: one that names users or
# database names refuses some connections but leaves the database visible.
list_denied_by contains i if {
	some i in applicable
	d := rule_of(i, "deny")
	count(field(d, "db_users")) == 0
	count(field(d, "db_names")) == 0
	labels_match(field(d, "db_labels"), db_labels)
}

admin_allowed_by contains i if {
	some i in applicable
	rule_of(i, "allow").admin == true
}

admin_denied_by contains i if {
	some i in applicable
	rule_of(i, "deny").admin == true
}

has_dimension(d) if {
	some key in ["db_labels", "db_users", "db_names"]
	count(field(d, key)) > 0
}

deny_labels_match(d) if count(field(d, "db_labels")) == 0

deny_labels_match(d) if labels_match(field(d, "db_labels"), db_labels)

deny_list_match(d, key, _) if count(field(d, key)) == 0

deny_list_match(d, key, value) if list_match(field(d, key), value)

# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------

action := v if {
	v := input.action
	is_string(v)
} else := ""

identity := v if {
	v := input.identity
	v != null
} else := []

identity_name := n if {
	n := identity.name
	is_string(n)
	n != ""
} else := s if {
	s := identity.spiffe_id
	is_string(s)
} else := "unknown identity"

traits := field(identity, "traits")

database := v if {
	v := input.database
	v != null
} else := []

db_labels := field(database, "labels")

db_display := n if {
	n := database.name
	is_string(n)
	n != ""
} else := "unnamed database"

request := v if {
	v := input.request
	v != null
} else := []

db_user := text(request, "db_user")

db_name_given := text(request, "db_name")

# PostgreSQL connects to the database named like the user when none is given.
db_name := db_user if db_name_given == "" else := db_name_given

# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------

roles := v if {
	v := input.roles
	v != null
} else := []

# applicable holds the indexes in input.roles of the roles that apply to
# the identity: named in its roles, or matching its SPIFFE ID.
applicable contains i if {
	some i, role in roles
	role.name in identity_roles
}

applicable contains i if {
	some i, role in roles
	some pattern in role.spiffe_ids
	spiffe_match(pattern, spiffe_id)
}

identity_roles := {name | some name in field(identity, "roles")}

spiffe_id := text(identity, "spiffe_id")

applicable_names := concat(", ", sort([role_name(i) | some i in applicable])) if {
	count(applicable) > 0
} else := "none"

role_name(i) := text(roles[i], "name")

rule_of(i, kind) := field(roles[i], kind)

# A SPIFFE pattern is the ID itself, or a glob whose * stays within one
# path segment ("spiffe://example/bot/*" matches any single bot).
spiffe_match(pattern, id) if pattern == id

spiffe_match(pattern, id) if {
	contains(pattern, "*")
	well_formed_spiffe_id(id)
	glob.match(literal_glob(pattern), ["/"], id)
}

well_formed_spiffe_id(id) if {
	startswith(id, "spiffe://")
	not endswith(id, "/")
	not contains(trim_prefix(id, "spiffe://"), "//")
}

# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------

# labels_match: every label of a non-empty selector must be present on the
# database and match one of its patterns. The key "*" matches when any label
# value matches, and "*": ["*"] matches every database.
labels_match(selector, labels) if {
	count(selector) > 0
	every key, patterns in selector {
		label_key_match(key, patterns, labels)
	}
}

label_key_match("*", patterns, _) if "*" in patterns

label_key_match("*", patterns, labels) if {
	some value in labels
	some pattern in patterns
	label_value_match(pattern, value)
}

label_key_match(key, patterns, labels) if {
	key != "*"
	some pattern in patterns
	label_value_match(pattern, labels[key])
}

# Label patterns may be regular expressions, written "^...$".
label_value_match(pattern, value) if {
	is_regex(pattern)
	regex.match(pattern, value)
}

label_value_match(pattern, value) if {
	not is_regex(pattern)
	value_match(pattern, value)
}

is_regex(pattern) if {
	startswith(pattern, "^")
	endswith(pattern, "$")
}

# list_match: some pattern of the list, after trait templates are expanded,
# matches value. An empty list matches nothing.
list_match(patterns, value) if {
	some entry in patterns
	some pattern in expand(entry)
	value_match(pattern, value)
}

# value_match: "*" matches anything, other patterns match literally except
# that * stands for any run of characters.
value_match("*", _) := true

value_match(pattern, value) if pattern == value

value_match(pattern, value) if {
	pattern != "*"
	contains(pattern, "*")
	glob.match(literal_glob(pattern), null, value)
}

# literal_glob quotes every glob metacharacter but *.
literal_glob(pattern) := concat("*", [glob.quote_meta(part) | some part in split(pattern, "*")])

# expand turns "{{internal.NAME}}" into the identity's trait NAME (a list,
# or a single string) and any other entry into itself. A template whose
# trait is absent, or that names anything but internal traits, expands to
# nothing.
expand(entry) := trait_values(template_key(entry)) if is_template(entry) else := [entry]

is_template(entry) if {
	startswith(entry, "{{")
	endswith(entry, "}}")
}

template_key(entry) := trim_space(trim_suffix(trim_prefix(entry, "{{"), "}}"))

trait_values(key) := as_list(field(traits, trim_prefix(key, "internal."))) if {
	startswith(key, "internal.")
} else := []

as_list(x) := [x] if is_string(x) else := x

# ---------------------------------------------------------------------------
# Helpers for documents with missing or null fields
# ---------------------------------------------------------------------------

# field is obj[key], or an empty collection when it is absent or null.
field(obj, key) := v if {
	v := obj[key]
	v != null
} else := []

# text is obj[key] as a string, "" when absent or null.
text(obj, key) := v if {
	v := obj[key]
	is_string(v)
} else := ""
