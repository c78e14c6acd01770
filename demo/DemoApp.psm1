# A tiny web app for the demo. When it starts it reads, as a real service does, its code's app.json (the release), its
# configuration file (config/app.yml) and its feature flags (a FeatureManagement appsettings.json). Its /health endpoint
# fails when the code or an enabled feature needs an environment variable that is missing.

$script:job = $null

function Get-FreeTcpPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Start-DemoApp {
    param([Parameter(Mandatory)] [string] $ReleasePath, [Parameter(Mandatory)] [int] $Port, [string] $SettingsPath)
    $script:job = Start-ThreadJob -Name "demo-app-$Port" -ArgumentList $ReleasePath, $Port, $SettingsPath -ScriptBlock {
        param($releasePath, $port, $settingsPath)
        $config = Get-Content -Raw (Join-Path $releasePath 'app.json') | ConvertFrom-Json
        $required = @($config.requiredEnvironment)
        if ($settingsPath) {
            # A feature the flags turn on may need more (its partner API's key, named in the configuration file).
            $flags = (Get-Content -Raw (Join-Path $settingsPath 'appsettings.json') | ConvertFrom-Json).FeatureManagement
            $settings = Get-Content (Join-Path $settingsPath 'config/app.yml')
            foreach ($feature in $flags.PSObject.Properties | Where-Object Value -EQ $true) {
                $required += @($settings | Select-String "^$($feature.Name)RequiresEnv:\s*(\S+)" | ForEach-Object { $_.Matches[0].Groups[1].Value })
            }
        }
        $missing = @($required | Where-Object { -not [Environment]::GetEnvironmentVariable($_) })
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

# The on-call channel: a JSON webhook (as a chat tool's incoming webhook is) that keeps each message it is sent.
function Start-DemoInbox {
    param([Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string] $Folder)
    New-Item -ItemType Directory -Force $Folder | Out-Null
    $script:inbox = Start-ThreadJob -Name "demo-inbox-$Port" -ArgumentList $Port, $Folder -ScriptBlock {
        param($port, $folder)
        $listener = [System.Net.HttpListener]::new()
        $listener.Prefixes.Add("http://127.0.0.1:$port/")
        $listener.Start()
        $n = 0
        try {
            while ($listener.IsListening) {
                $pending = $listener.GetContextAsync()
                while (-not $pending.Wait(100)) { }
                $context = $pending.Result
                if ($context.Request.HttpMethod -eq 'POST') {
                    $n++
                    [IO.File]::WriteAllText((Join-Path $folder ('{0:000}.json' -f $n)), [IO.StreamReader]::new($context.Request.InputStream).ReadToEnd())
                }
                $context.Response.StatusCode = 200
                $context.Response.Close()
            }
        }
        finally { $listener.Close() }
    }
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([DateTime]::UtcNow -lt $deadline) {
        try { $null = Invoke-WebRequest "http://127.0.0.1:$Port/" -TimeoutSec 1 -SkipHttpErrorCheck; return } catch { Start-Sleep -Milliseconds 50 }
    }
    throw "The demo inbox did not start on port $Port."
}

function Stop-DemoInbox {
    if ($script:inbox) {
        Stop-Job $script:inbox
        Remove-Job $script:inbox -Force
        $script:inbox = $null
    }
}

function Restart-DemoApp {
    param([Parameter(Mandatory)] [string] $ReleasePath, [Parameter(Mandatory)] [int] $Port, [string] $SettingsPath)
    Stop-DemoApp
    Start-DemoApp -ReleasePath $ReleasePath -Port $Port -SettingsPath $SettingsPath
}

Export-ModuleMember -Function Get-FreeTcpPort, Start-DemoApp, Stop-DemoApp, Restart-DemoApp, Start-DemoInbox, Stop-DemoInbox
