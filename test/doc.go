// Package test holds pbxha's end-to-end tests: real pbxha processes, PBX test
// doubles and servers started on loopback or inside network namespaces.
package test
