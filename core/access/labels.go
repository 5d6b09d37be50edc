package access

import (
	"regexp"
	"strings"
)

// LabelSelector maps a label name to the patterns one of which its value
// must match. It has the meaning of a role's db_labels (docs/authz.md): a
// database matches when every listed label is present and matches one of
// its patterns; the name "*" matches when some label of the database
// matches; {"*": ["*"]} matches every database, unlabelled ones too; an
// empty selector matches nothing.
type LabelSelector map[string][]string

// Match reports whether labels satisfy the selector. It follows the
// bundled role policy's labels_match (plugins/rbac-opa/policy/authz.rego)
// rule for rule, so an agent's resources selector and a role's db_labels
// read the same way. A regular expression that does not compile matches
// nothing; configuration loading refuses such patterns first.
func (s LabelSelector) Match(labels map[string]string) bool {
	if len(s) == 0 {
		return false
	}
	for key, patterns := range s {
		if !labelKeyMatch(key, patterns, labels) {
			return false
		}
	}
	return true
}

// MatchAny reports whether some selector matches labels.
func MatchAny(selectors []LabelSelector, labels map[string]string) bool {
	for _, s := range selectors {
		if s.Match(labels) {
			return true
		}
	}
	return false
}

func labelKeyMatch(key string, patterns []string, labels map[string]string) bool {
	if key == "*" {
		for _, p := range patterns {
			if p == "*" {
				return true
			}
		}
		for _, v := range labels {
			for _, p := range patterns {
				if LabelValueMatch(p, v) {
					return true
				}
			}
		}
		return false
	}
	v, ok := labels[key]
	if !ok {
		return false
	}
	for _, p := range patterns {
		if LabelValueMatch(p, v) {
			return true
		}
	}
	return false
}

// LabelValueMatch matches one label value against a pattern: "^...$" is
// a regular expression (RE2); "*" matches anything; a pattern with * is a
// glob in which each * stands for any run of characters and everything
// else is literal; any other pattern matches itself.
func LabelValueMatch(pattern, value string) bool {
	if IsLabelRegexp(pattern) {
		re, err := regexp.Compile(pattern)
		return err == nil && re.MatchString(value)
	}
	return globMatch(pattern, value)
}

// IsLabelRegexp reports whether a label pattern is a regular expression.
func IsLabelRegexp(pattern string) bool {
	return strings.HasPrefix(pattern, "^") && strings.HasSuffix(pattern, "$")
}

// globMatch matches value against a pattern whose only wildcard is *,
// anchored at both ends.
func globMatch(pattern, value string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == value
	}
	if !strings.HasPrefix(value, parts[0]) {
		return false
	}
	value = value[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(value, mid)
		if i < 0 {
			return false
		}
		value = value[i+len(mid):]
	}
	return strings.HasSuffix(value, last)
}
