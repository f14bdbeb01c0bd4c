package configs

import (
	"github.com/pbxha/pbxha/vip"
)

// VIPConfig is the vip section as the vip package takes it.
func (c *Config) VIPConfig() vip.Config {
	v := c.VIP
	return vip.Config{
		Mode: vip.Mode(v.Mode), Interface: v.Interface, Address: v.Address, Label: v.Label,
		GARPCount: v.GARPCount, GARPInterval: v.GARPInterval, Refresh: v.Refresh,
		Script: vip.Script{Up: v.Script.Up, Down: v.Script.Down, Check: v.Script.Check, Timeout: v.Script.Timeout},
	}
}
