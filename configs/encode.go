package configs

import (
	"bytes"
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Marshal renders c as YAML in the file's layout: keys in schema order,
// durations as text ("500ms"), empty probe lists left out. The result loads
// back into an equal Config.
func Marshal(c *Config) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(encode(reflect.ValueOf(c).Elem())); err != nil {
		return nil, fmt.Errorf("configs: marshal %s: %w", c.Source, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: marshal %s: %w", c.Source, err)
	}
	return b.Bytes(), nil
}

func encode(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case isDuration(t):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v.Interface())}
	case isMapping(t):
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(t) {
			fv := v.FieldByIndex(f.index)
			if isList(f.typ) && fv.Len() == 0 {
				continue
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.key}, encode(fv))
		}
		return m
	case t.Kind() == reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		if t.Elem().Kind() == reflect.String {
			s.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			s.Content = append(s.Content, encode(v.Index(i)))
		}
		return s
	case t.Kind() == reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	default:
		n := &yaml.Node{}
		if err := n.Encode(v.Interface()); err != nil {
			// Only ints, floats and bools get here, and they always encode.
			panic(fmt.Sprintf("configs: encode %s: %v", t, err))
		}
		return n
	}
}
