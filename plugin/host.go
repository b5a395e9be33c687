package plugin

import (
	"strconv"
	"strings"
)

// idChars are the characters a sandbox id or signed preview token may hold:
// lower-case DNS label characters. Daytona's ids are UUIDs, its signed tokens
// 16 characters of [0-9a-z].
const idChars = "abcdefghijklmnopqrstuvwxyz0123456789-"

// MaxLabel is the longest DNS label; the whole "{port}-{id}" label must fit.
const MaxLabel = 63

// ValidSandboxID reports whether s has the shape of a Daytona sandbox id or
// signed preview token: 1 to 57 characters of [a-z0-9-], neither starting nor
// ending with '-' (so that "{port}-{id}" stays a valid DNS label).
//
// It is written for Yaegi: the per-character check is one compiled call.
func ValidSandboxID(s string) bool {
	n := len(s)
	if n == 0 || n > MaxLabel-6 || s[0] == '-' || s[n-1] == '-' {
		return false
	}
	return strings.Trim(s, idChars) == ""
}

// IsSignedToken reports whether s has the shape of a Daytona signed preview
// token (16 characters of [0-9a-z]) rather than a sandbox id.
func IsSignedToken(s string) bool {
	return len(s) == 16 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// ParsePort parses a decimal port 1-65535 written without sign or leading zero.
func ParsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	p, err := strconv.Atoi(s)
	if err != nil || p > 65535 {
		return 0, false
	}
	return p, true
}

// ParseLabel splits a preview host's first label "{port}-{idOrToken}" at the
// first '-' and validates both parts, as ParsePort and ValidSandboxID do.
// It is one function on purpose: under Yaegi every call allocates a frame.
func ParseLabel(label string) (string, string, bool) {
	i := strings.IndexByte(label, '-')
	n := len(label)
	// 1-5 digits, a '-', an id of 1 to 57 characters.
	if i < 1 || i > 5 || n > MaxLabel || n-i < 2 || n-i-1 > MaxLabel-6 || label[0] == '0' || label[i+1] == '-' || label[n-1] == '-' {
		return "", "", false
	}
	port, id := label[:i], label[i+1:]
	if strings.Trim(port, "0123456789") != "" || (i == 5 && port > "65535") || strings.Trim(id, idChars) != "" {
		return "", "", false
	}
	return port, id, true
}

// AlwaysAuthPort reports whether port (decimal text) needs authentication
// even on a public sandbox: Daytona's terminal, toolbox and recording ports.
func AlwaysAuthPort(port string) bool {
	return port == "22222" || port == "2280" || port == "33333"
}
