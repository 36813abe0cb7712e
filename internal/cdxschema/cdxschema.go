// Package cdxschema validates CycloneDX 1.6 JSON documents against the
// official JSON schema (with the SPDX license list and JSF schemas it
// refers to), for strata's tests. The schemas are the files of
// @cyclonedx/cyclonedx-library (see README.md).
package cdxschema

import (
	"bytes"
	"embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.schema.json
var files embed.FS

const base = "http://cyclonedx.org/schema/"

// Validate checks doc against the CycloneDX 1.6 JSON schema.
func Validate(doc []byte) error {
	c := jsonschema.NewCompiler()
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(base+name, v); err != nil {
			return err
		}
	}
	sch, err := c.Compile(base + "bom-1.6.schema.json")
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(v)
}
