// The distribution registry for the registry addon, with only the filesystem storage driver:
// upstream's cmd/registry also links the cloud drivers (S3, GCS, Azure) and their SDKs, which
// a registry on the node's hostpath volume never uses.
package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	// The image's CMD is `serve /etc/distribution/config.yml`, as upstream's image does.
	if err := registry.RootCmd.Execute(); err != nil {
		panic(err)
	}
}
