package store

import (
	"reflect"
	"testing"
	"time"
)

// fullRecord has every field of Record and ARI set.
func fullRecord() *Record {
	at := func(s int) *time.Time { t := time.Date(2026, 12, 1, 10, 0, s, 0, time.UTC); return &t }
	r := &Record{ARI: &ARI{}}
	fill(reflect.ValueOf(r).Elem(), at)
	return r
}

// fill sets every field of v (a Record or an ARI) to a non-zero value.
func fill(v reflect.Value, at func(int) *time.Time) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString("x-" + v.Type().Field(i).Name)
		case int:
			f.SetInt(3)
		case []string:
			f.Set(reflect.ValueOf([]string{"a.example", "b.example"}))
		case *time.Time:
			f.Set(reflect.ValueOf(at(i)))
		case *ARI:
			fill(f.Elem(), at)
		default:
			panic("fill: a field of a type this test does not know: " + v.Type().Field(i).Name)
		}
	}
}

// TestRecordSameSeesEveryField changes each field of Record and of ARI in
// turn and requires Same to see it: a field added later and forgotten in
// Same would make a pass skip writing a changed record.
func TestRecordSameSeesEveryField(t *testing.T) {
	base := fullRecord()
	if !base.Same(base.Clone()) {
		t.Fatal("a record is not the same as its clone")
	}
	check := func(path string, change func(r *Record)) {
		t.Helper()
		c := base.Clone()
		change(c)
		if base.Same(c) || c.Same(base) {
			t.Errorf("Same does not see a change of %s", path)
		}
	}
	rt := reflect.TypeOf(Record{})
	for i := range rt.NumField() {
		name := rt.Field(i).Name
		if name == "ARI" {
			check("ARI (nil)", func(r *Record) { r.ARI = nil })
			at := reflect.TypeOf(ARI{})
			for j := range at.NumField() {
				check("ARI."+at.Field(j).Name, func(r *Record) { changeField(reflect.ValueOf(r.ARI).Elem().Field(j)) })
			}
			continue
		}
		check(name, func(r *Record) { changeField(reflect.ValueOf(r).Elem().Field(i)) })
	}
}

// changeField gives f another value of its type.
func changeField(f reflect.Value) {
	switch v := f.Interface().(type) {
	case string:
		f.SetString(v + "-changed")
	case int:
		f.SetInt(int64(v) + 1)
	case []string:
		f.Set(reflect.ValueOf(append(append([]string(nil), v...), "c.example")))
	case *time.Time:
		t := v.Add(time.Second)
		f.Set(reflect.ValueOf(&t))
	}
}

// TestRecordSameAsStored: what Clone normalises away (sub-second parts,
// time zones, nil against empty lists) is not a change, as it is not one in
// the file either; a nil time against a set one is.
func TestRecordSameAsStored(t *testing.T) {
	base := fullRecord()
	c := base.Clone()
	loc := time.FixedZone("X", 3600)
	nb := base.NotBefore.In(loc).Add(300 * time.Millisecond)
	c.NotBefore = &nb
	if !base.Same(c) {
		t.Error("the same instant in another zone with a sub-second part is a change")
	}
	c.Repaired, c.Domains = nil, nil
	b2 := base.Clone()
	b2.Repaired, b2.Domains = []string{}, []string{}
	if !b2.Same(c) {
		t.Error("a nil list is not the same as an empty one")
	}
	c.RenewTime = nil
	if base.Same(c) {
		t.Error("a time set and one unset are the same")
	}
	if !(*Record)(nil).Same(nil) || base.Same(nil) {
		t.Error("nil records compare wrongly")
	}
}
