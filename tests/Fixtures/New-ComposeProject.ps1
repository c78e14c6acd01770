<#
.SYNOPSIS
    Writes the two-service Compose project the container tests and benchmarks use into -Path: docker-compose.yml
    (web on the unhealthy drtest/app:2.3.1) and docker-compose.previous.yml (web on the healthy 2.3.0); the worker
    runs 2.3.0 in both. Host networking on the given loopback ports.
#>
param(
    [Parameter(Mandatory)] [string] $Path,
    [Parameter(Mandatory)] [int] $WebPort,
    [Parameter(Mandatory)] [int] $WorkerPort
)

foreach ($file in @(@('docker-compose.yml', '2.3.1'), @('docker-compose.previous.yml', '2.3.0'))) {
    Set-Content (Join-Path $Path $file[0]) @"
version: "2.4"
services:
  web:
    image: drtest/app:$($file[1])
    network_mode: host
    init: true
    environment:
      APP_PORT: "$WebPort"
  worker:
    image: drtest/app:2.3.0
    network_mode: host
    init: true
    environment:
      APP_PORT: "$WorkerPort"
"@
}
