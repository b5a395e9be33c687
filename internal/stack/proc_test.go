package stack

import "testing"

// A stack's addresses are picked together and never share a port (one
// picked and released at once could be handed out again by the next pick).
func TestFreeAddrsAreDistinct(t *testing.T) {
	addrs, err := FreeAddrs(64)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s picked twice in %v", a, addrs)
		}
		seen[a] = true
	}
	if len(addrs) != 64 {
		t.Fatalf("%d addresses, want 64", len(addrs))
	}
}
