package secret

import "testing"

func TestValueAndProblem(t *testing.T) {
	t.Setenv("PT_SECRET_TEST_SET", "from-env")
	t.Setenv("PT_SECRET_TEST_EMPTY", "")
	for _, tc := range []struct {
		inline, env, value, problem string
	}{
		{"inline", "", "inline", ""},
		{"inline", "PT_SECRET_TEST_SET", "inline", ""}, // the file wins
		{"", "PT_SECRET_TEST_SET", "from-env", ""},
		{"", "PT_SECRET_TEST_EMPTY", "", "environment variable PT_SECRET_TEST_EMPTY (dsn_env) is empty"},
		{"", "PT_SECRET_TEST_NEVER_SET", "", "environment variable PT_SECRET_TEST_NEVER_SET (dsn_env) is empty"},
		{"", "", "", "dsn (or dsn_env) is not set"},
	} {
		if got := Value(tc.inline, tc.env); got != tc.value {
			t.Errorf("Value(%q, %q) = %q, want %q", tc.inline, tc.env, got, tc.value)
		}
		if got := Problem("dsn", tc.inline, tc.env); got != tc.problem {
			t.Errorf("Problem(dsn, %q, %q) = %q, want %q", tc.inline, tc.env, got, tc.problem)
		}
	}
}
