# Shared by the Pester tests: real git repositories, a real HTTP endpoint, and child pwsh processes.

function Get-TestModulePath {
    if (-not $env:DEPLOYMENT_ROLLBACK_TEST_MODULE) { throw 'Run the tests through build.ps1 Test (DEPLOYMENT_ROLLBACK_TEST_MODULE is not set).' }
    $env:DEPLOYMENT_ROLLBACK_TEST_MODULE
}

function Invoke-TestGit {
    param([string] $Repo)
    $output = git -C $Repo @args 2>&1
    if ($LASTEXITCODE) { throw "git $args failed: $output" }
    $output
}

# A repository with releases v2.2.0, v2.3.0 (good, app.txt = good) and v2.3.1 (bad, app.txt = bad); HEAD on main at v2.3.1.
function New-TestRepository {
    param([Parameter(Mandatory)] [string] $Path)
    New-Item -ItemType Directory -Force $Path | Out-Null
    Invoke-TestGit $Path init --quiet --initial-branch main | Out-Null
    Invoke-TestGit $Path config user.name 'Test Deployer' | Out-Null
    Invoke-TestGit $Path config user.email 'deployer@example.invalid' | Out-Null
    foreach ($release in @(@('v2.2.0', 'old'), @('v2.3.0', 'good'), @('v2.3.1', 'bad'))) {
        Set-Content (Join-Path $Path 'app.txt') $release[1]
        Invoke-TestGit $Path add app.txt | Out-Null
        Invoke-TestGit $Path commit --quiet -m "Release $($release[0])" | Out-Null
        Invoke-TestGit $Path tag $release[0] | Out-Null
    }
    (Resolve-Path $Path).Path
}

function Get-TestHead {
    param([string] $Repo)
    (Invoke-TestGit $Repo rev-parse HEAD | Select-Object -First 1).Trim()
}

function Get-TestTagCommit {
    param([string] $Repo, [string] $Tag)
    (Invoke-TestGit $Repo rev-parse "$Tag^{commit}" | Select-Object -First 1).Trim()
}

# Get-FreePort: a loopback port nothing listens on now, below the ephemeral range (see FreePort.ps1).
. (Join-Path $PSScriptRoot '../Fixtures/FreePort.ps1')

# A real HTTP server on loopback: an HttpListener in a thread job on a free port, answering each request with
# $Handler, a script block param($context, $state) run for every request; $State (a hashtable, kept across requests)
# carries the caller's values. Returns once Start has returned. Nothing connects while it starts: a connection
# during .NET's HttpListener.Start on Linux makes it throw and leaves the port unusable in this process (see
# docs/DESIGN-NOTES.md), so a failed start is retried on another port instead of polled.
function Start-TestListener {
    param([Parameter(Mandatory)] [scriptblock] $Handler, [hashtable] $State = @{})
    $failures = @()
    for ($attempt = 1; $attempt -le 3; $attempt++) {
        $port = Get-FreePort
        $job = Start-ThreadJob -ArgumentList $port, $Handler.ToString(), $State -ScriptBlock {
            param($port, $handler, $state)
            $handle = [scriptblock]::Create($handler)
            $http = [System.Net.HttpListener]::new()
            $http.Prefixes.Add("http://127.0.0.1:$port/")
            $http.Start()
            'listening'
            try {
                while ($http.IsListening) {
                    $pending = $http.GetContextAsync()
                    while (-not $pending.Wait(100)) { }
                    & $handle $pending.Result $state
                }
            }
            finally { $http.Close() }
        }
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ($job.Output.Count -eq 0 -and $job.State -in 'NotStarted', 'Running' -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        if ($job.Output.Count -gt 0) { return [pscustomobject]@{ Port = $port; Url = "http://127.0.0.1:$port"; Job = $job } }
        $failures += "port ${port}: $($job.State) $($job.ChildJobs[0].JobStateInfo.Reason.Message) $($job.Error | Select-Object -First 1)"
        Stop-Job $job; Remove-Job $job -Force
    }
    throw "No test HTTP listener started in 3 attempts: $($failures -join '; ')"
}

# A real HTTP server answering every path with the given status; given -Authorization, a request without exactly that
# header gets 401.
function Start-TestHttpServer {
    param([int] $Status = 200, [string] $Body = '{"status":"ok"}', [string] $Authorization)
    $server = Start-TestListener -State @{ Status = $Status; Body = $Body; Authorization = $Authorization } -Handler {
        param($context, $state)
        $bytes = [Text.Encoding]::UTF8.GetBytes($state.Body)
        $context.Response.StatusCode = if ($state.Authorization -and $context.Request.Headers['Authorization'] -ne $state.Authorization) { 401 } else { $state.Status }
        $context.Response.OutputStream.Write($bytes, 0, $bytes.Length)
        $context.Response.Close()
    }
    [pscustomobject]@{ Uri = "$($server.Url)/health"; Port = $server.Port; Job = $server.Job }
}

# A real HTTP receiver that keeps every POST and answers 200: its body, as sent, in <Folder>/<NNN>-<first path
# segment>.json (NNN in order of arrival, the file's time its arrival time) and its headers as JSON in
# <Folder>.headers/ under the same name. Other methods are answered and not kept.
function Start-TestReceiver {
    param([Parameter(Mandatory)] [string] $Folder)
    New-Item -ItemType Directory -Force $Folder, "$Folder.headers" | Out-Null
    $server = Start-TestListener -State @{ Folder = $Folder; Count = 0 } -Handler {
        param($context, $state)
        if ($context.Request.HttpMethod -eq 'POST') {
            $body = [IO.MemoryStream]::new()
            $context.Request.InputStream.CopyTo($body)
            $headers = @{}
            foreach ($name in $context.Request.Headers.AllKeys) { $headers[$name] = $context.Request.Headers[$name] }
            $state.Count++
            $name = '{0:000}-{1}.json' -f $state.Count, $context.Request.Url.AbsolutePath.Trim('/').Split('/')[0]
            [IO.File]::WriteAllText((Join-Path "$($state.Folder).headers" $name), ($headers | ConvertTo-Json))
            [IO.File]::WriteAllBytes((Join-Path $state.Folder $name), $body.ToArray())
        }
        $context.Response.StatusCode = 200
        $context.Response.Close()
    }
    [pscustomobject]@{ Port = $server.Port; Url = $server.Url; Job = $server.Job; Folder = $Folder }
}

function Stop-TestReceiver {
    param($Receiver)
    if ($Receiver) { Stop-Job $Receiver.Job; Remove-Job $Receiver.Job -Force }
}

function Stop-TestHttpServer {
    param($Server)
    if ($Server) { Stop-Job $Server.Job; Remove-Job $Server.Job -Force }
}

# The command line that starts this same PowerShell (pwsh itself, or dotnet plus pwsh.dll when run as a dotnet tool).
function Get-PwshCommand {
    $host_ = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($host_) -eq 'dotnet') { @($host_, (Join-Path $PSHOME 'pwsh.dll')) } else { @($host_) }
}

# Runs a script in a fresh pwsh (the same executable as this one) and returns its exit code and all its output.
function Invoke-ChildPwsh {
    param([Parameter(Mandatory)] [string] $Script, [hashtable] $Environment = @{})
    Wait-ChildPwsh (Start-ChildPwsh -Script $Script -Environment $Environment)
}

# A child pwsh running a script, not waited for: Wait-ChildPwsh collects its exit code and output (kill it with .Process).
function Start-ChildPwsh {
    param([Parameter(Mandatory)] [string] $Script, [hashtable] $Environment = @{})
    $file = Join-Path ([IO.Path]::GetTempPath()) "dr-child-$([Guid]::NewGuid().ToString('N')).ps1"
    Set-Content $file $Script
    $pwsh = Get-PwshCommand
    $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
    foreach ($argument in @($pwsh | Select-Object -Last ($pwsh.Count - 1)) + @('-NoProfile', '-NonInteractive', '-File', $file)) { $info.ArgumentList.Add($argument) }
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    $info.Environment['NO_COLOR'] = '1'
    foreach ($key in $Environment.Keys) { $info.Environment[$key] = $Environment[$key] }
    $process = [Diagnostics.Process]::Start($info)
    [pscustomobject]@{ Process = $process; File = $file; Output = $process.StandardOutput.ReadToEndAsync(); Error = $process.StandardError.ReadToEndAsync() }
}

function Wait-ChildPwsh {
    param([Parameter(Mandatory, ValueFromPipeline)] $Child)
    process {
        try {
            $Child.Process.WaitForExit()
            [pscustomobject]@{ ExitCode = $Child.Process.ExitCode; Output = $Child.Output.Result; Error = $Child.Error.Result }
        }
        finally { Remove-Item $Child.File -ErrorAction SilentlyContinue }
    }
}

# A worker that dies mid-step: runs a script in a fresh pwsh, waits until -Until (a script block) is true, then kills
# that pwsh alone (kill -9; its children go on). Returns the processes it had started, and theirs, as they were then.
function Stop-ChildPwshWhen {
    param([Parameter(Mandatory)] [string] $Script, [Parameter(Mandatory)] [scriptblock] $Until, [hashtable] $Environment = @{}, [int] $TimeoutSec = 90)
    $child = Start-ChildPwsh -Script $Script -Environment $Environment
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while (-not (& $Until) -and -not $child.Process.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
    # Not .Output.Result here while it runs: that waits for the process to end.
    if ($child.Process.HasExited) { throw "The script ended before the moment to kill it came: $($child.Output.Result) $($child.Error.Result)" }
    if (-not (& $Until)) { $child.Process.Kill(); $null = $child | Wait-ChildPwsh; throw "The moment to kill the script did not come within $TimeoutSec s." }
    $tree = @(Get-Process | ForEach-Object { [pscustomobject]@{ Id = $_.Id; Parent = $_.Parent.Id } })
    $ids = [Collections.Generic.List[int]]::new()
    $ids.Add($child.Process.Id)
    for ($i = 0; $i -lt $ids.Count; $i++) { $tree | Where-Object Parent -EQ $ids[$i] | ForEach-Object { $ids.Add($_.Id) } }
    $descendants = @($ids | Select-Object -Skip 1 | ForEach-Object { Get-Process -Id $_ -ErrorAction SilentlyContinue })
    $child.Process.Kill()
    $null = $child | Wait-ChildPwsh
    $descendants
}

# A job as Azure Automation runs several in one sandbox process: a runspace of this process with the module imported.
function New-TestJob {
    param([Parameter(Mandatory)] [string] $ModulePath)
    $shell = [powershell]::Create()
    $null = $shell.AddScript("Import-Module '$ModulePath'; `$ProgressPreference = 'SilentlyContinue'").Invoke()
    $shell.Commands.Clear()
    $shell
}

# Runs a script block with arguments in a job made by New-TestJob; returns its output.
function Invoke-TestJob {
    param([Parameter(Mandatory)] $Job, [Parameter(Mandatory)] [scriptblock] $Script, [object[]] $ArgumentList = @())
    $Job.Commands.Clear()
    $null = $Job.AddScript($Script)
    foreach ($argument in $ArgumentList) { $null = $Job.AddArgument($argument) }
    $Job.Invoke()
}

# The fake Kubernetes API server (tests/Fakes/KubeApiServer, proven by kubectl in the xunit suite), standalone on a free
# loopback port with a kubeconfig for it. Built here if the xunit run has not built it already.
function Start-TestKubeApiServer {
    param([Parameter(Mandatory)] [string] $Folder, [string[]] $Arguments = @())
    $root = Resolve-Path (Join-Path $PSScriptRoot '../..')
    $dll = Join-Path $root 'tests/Fakes/KubeApiServer/bin/Release/net10.0/DeploymentRollback.Fakes.KubeApiServer.dll'
    if (-not (Test-Path $dll)) {
        $output = & dotnet build (Join-Path $root 'tests/Fakes/KubeApiServer/KubeApiServer.csproj') -c Release --nologo -v quiet 2>&1
        if ($LASTEXITCODE) { throw "Building the fake Kubernetes API server failed: $output" }
    }
    New-Item -ItemType Directory -Force $Folder | Out-Null
    $kubeconfig = Join-Path $Folder 'kubeconfig'
    $log = Join-Path $Folder 'kube-api.log'
    $process = Start-Process -FilePath (Get-Command dotnet).Source -ArgumentList (@($dll, '--listen', '127.0.0.1:0', '--kubeconfig', $kubeconfig) + $Arguments) `
        -RedirectStandardOutput $log -RedirectStandardError (Join-Path $Folder 'kube-api.err') -PassThru
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not ((Test-Path $log) -and (Get-Content -Raw $log) -match 'Listening on (https?\S+)')) {
        if ($process.HasExited -or [DateTime]::UtcNow -gt $deadline) { throw "The fake Kubernetes API server did not start: $(Get-Content -Raw (Join-Path $Folder 'kube-api.err') -ErrorAction SilentlyContinue)" }
        Start-Sleep -Milliseconds 100
    }
    [pscustomobject]@{ Process = $process; Uri = $Matches[1].TrimEnd('/'); KubeConfig = $kubeconfig }
}

# Runs the real kubectl against a kubeconfig; throws with its output when it fails.
function Invoke-TestKubectl {
    # A simple function (no [Parameter]) so that the rest of the arguments go to kubectl through $args.
    param([string] $KubeConfig)
    $output = & kubectl --kubeconfig $KubeConfig @args 2>&1
    if ($LASTEXITCODE) { throw "kubectl $args failed: $output" }
    $output
}

# Waits until a Deployment's rollout of its current template is complete, or (for a failing image) its progress deadline passed.
function Wait-TestRollout {
    param([string] $KubeConfig, [string] $Name, [switch] $Failing)
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while ([DateTime]::UtcNow -lt $deadline) {
        $d = Invoke-TestKubectl $KubeConfig get deployment $Name -o json | ConvertFrom-Json
        $progressing = $d.status.conditions | Where-Object type -EQ 'Progressing'
        if ($d.status.observedGeneration -ge $d.metadata.generation) {
            if ($Failing -and $progressing.reason -eq 'ProgressDeadlineExceeded') { return }
            if (-not $Failing -and $d.status.updatedReplicas -eq $d.spec.replicas -and $d.status.availableReplicas -eq $d.spec.replicas -and $d.status.replicas -eq $d.spec.replicas) { return }
        }
        Start-Sleep -Milliseconds 100
    }
    throw "deployment/$Name did not settle"
}

Export-ModuleMember -Function *
