# A tiny web app for the demo: it reads app.json from its release folder when it starts (as a real service
# reads its configuration), and its /health endpoint fails when an environment variable it requires is missing.

$script:job = $null

function Get-FreeTcpPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Start-DemoApp {
    param([Parameter(Mandatory)] [string] $ReleasePath, [Parameter(Mandatory)] [int] $Port)
    $script:job = Start-ThreadJob -Name "demo-app-$Port" -ArgumentList $ReleasePath, $Port -ScriptBlock {
        param($releasePath, $port)
        $config = Get-Content -Raw (Join-Path $releasePath 'app.json') | ConvertFrom-Json
        $missing = @($config.requiredEnvironment | Where-Object { -not [Environment]::GetEnvironmentVariable($_) })
        $listener = [System.Net.HttpListener]::new()
        $listener.Prefixes.Add("http://127.0.0.1:$port/")
        $listener.Start()
        try {
            while ($listener.IsListening) {
                $pending = $listener.GetContextAsync()
                while (-not $pending.Wait(100)) { }
                $context = $pending.Result
                $status, $body = switch ($context.Request.Url.AbsolutePath) {
                    '/health' {
                        if ($missing) { 500, "{`"status`":`"error`",`"error`":`"Missing environment variable: $($missing -join ', ')`"}" }
                        else { 200, "{`"status`":`"ok`",`"version`":`"$($config.version)`"}" }
                    }
                    '/version' { 200, "{`"version`":`"$($config.version)`"}" }
                    default { 404, '{"error":"not found"}' }
                }
                $bytes = [Text.Encoding]::UTF8.GetBytes($body)
                $context.Response.StatusCode = $status
                $context.Response.ContentType = 'application/json'
                $context.Response.OutputStream.Write($bytes, 0, $bytes.Length)
                $context.Response.Close()
            }
        }
        finally { $listener.Close() }
    }
    # Wait until it answers, as a service manager would.
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([DateTime]::UtcNow -lt $deadline) {
        try { $null = Invoke-WebRequest "http://127.0.0.1:$Port/version" -TimeoutSec 1 -SkipHttpErrorCheck; return } catch { Start-Sleep -Milliseconds 50 }
    }
    throw "The demo app did not start on port $Port."
}

function Stop-DemoApp {
    if ($script:job) {
        Stop-Job $script:job
        Remove-Job $script:job -Force
        $script:job = $null
    }
}

function Restart-DemoApp {
    param([Parameter(Mandatory)] [string] $ReleasePath, [Parameter(Mandatory)] [int] $Port)
    Stop-DemoApp
    Start-DemoApp -ReleasePath $ReleasePath -Port $Port
}

Export-ModuleMember -Function Get-FreeTcpPort, Start-DemoApp, Stop-DemoApp, Restart-DemoApp
