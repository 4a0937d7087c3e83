module microk8s/snap/local/pause

go 1.26.0
