package proxy

import (
	"strconv"
	"testing"
)

// TestRecordsBodiesBounded holds bodies with records past every bound:
// the bytes held never pass maxBodies, a body larger than maxBodySize is
// not taken, and the count follows records replaced, dropped and pushed
// out.
func TestRecordsBodiesBounded(t *testing.T) {
	var rs records
	held := func() int64 {
		var n int64
		for _, p := range rs.m {
			n += int64(len(p.body))
		}
		return n
	}
	check := func(when string) {
		t.Helper()
		if got := held(); got != rs.bodies || got > maxBodies {
			t.Fatalf("%s: %d bytes held, %d counted; want them equal, at most %d", when, got, rs.bodies, maxBodies)
		}
	}
	body := make([]byte, maxBodySize)
	for i := range maxRecords + 10 {
		file := "f" + strconv.Itoa(i)
		rec := &record{Size: maxBodySize}
		rs.mu.Lock()
		rs.put(file, parsedRecord{rec: rec})
		rs.mu.Unlock()
		if rs.room(rec.Size) {
			rs.holdBody(file, rec, body)
		}
		check("holding " + file)
	}
	if rs.bodies != maxBodies {
		t.Errorf("%d bytes held; want the bound, %d", rs.bodies, maxBodies)
	}
	if rs.room(maxBodySize + 1) {
		t.Errorf("room for a body over maxBodySize")
	}
	for file, p := range rs.m {
		if p.body != nil {
			rs.drop(file)
			check("dropped " + file)
			if !rs.room(maxBodySize) {
				t.Fatalf("no room after a body was dropped")
			}
			rec := &record{Size: 1}
			rs.mu.Lock()
			rs.put(file, parsedRecord{rec: rec})
			rs.mu.Unlock()
			rs.holdBody(file, rec, []byte{1})
			rs.holdBody(file, &record{Size: 1}, []byte{2}) // another record: not held
			if got := rs.body(file, rec); len(got) != 1 || got[0] != 1 {
				t.Fatalf("body of %s: got %v; want [1]", file, got)
			}
			rs.mu.Lock()
			rs.put(file, parsedRecord{rec: &record{}}) // the record read again
			rs.mu.Unlock()
			check("replaced " + file)
			if got := rs.body(file, rec); got != nil {
				t.Fatalf("body of a replaced record: got %v; want none", got)
			}
			break
		}
	}
}
