#requires -Version 7.4
<#
.SYNOPSIS
    The one entry point: dotnet tool restore; dotnet pwsh build.ps1 <Task>.
.DESCRIPTION
    Build    assembles an importable module at out/DeploymentRollback (psd1, Cmdlets dll, format file, en-US help, Dependencies/).
    Test     Build, then xunit (tests/Unit, tests/Integration), then Pester against the built module in a child pwsh; ends with
             "N passed, N failed, N skipped". -Tier Unit runs only the fast tier (tests/Unit: no component, no module build).
    Demo     Build, then the Git rollback demo (no cluster or server but its own).
    Bench    Build, then the benchmarks; writes docs/BENCHMARKS.md (-Only <section>: that section alone). They run on a
             ReadyToRun copy of the pinned PowerShell (as PowerShell's release packages are), made once per version in out/pwsh-r2r/.
    Package  Build, then a .nupkg published to out/repository with Publish-PSResource, and an Azure Automation .zip.
    Clean    Removes out/ and the bin/obj folders.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Package', 'Clean')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Test only: All (the default) runs every runner against the real components; Unit the pure tests alone.
    [ValidateSet('All', 'Unit')]
    [string] $Tier = 'All',

    # Bench only: measure one section and replace it in docs/BENCHMARKS.md.
    [ValidateSet('Startup', 'Containers', 'FeatureFlags', 'Database', 'Kubernetes', 'StateStores', 'Plans', 'Metrics', 'Watch', 'Demo')]
    [string] $Only
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
if ($env:CI) {
    # Logs, not a terminal: no colour codes from this or any child pwsh.
    $PSStyle.OutputRendering = 'PlainText'
    $env:NO_COLOR = '1'
}
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleOut = Join-Path $out 'DeploymentRollback'
# Native libraries are kept for these platforms only (the others in the packages are for targets PowerShell 7 does not run on).
$supportedRids = 'linux-x64', 'linux-arm64', 'linux-musl-x64', 'linux-musl-arm64', 'osx-x64', 'osx-arm64', 'win-x64', 'win-x86', 'win-arm64'
# Compiled ahead of time (ReadyToRun) for the build machine's platform: what a first command in a fresh process runs (the
# cmdlets, the engine, the Model, the state journal, Git, Kubernetes, Docker). The rest (e-mail, Azure, PostgreSQL) stays IL only: it
# would add about 20 MB for commands a runbook rarely starts with. See docs/DESIGN-NOTES.md, "Start-up".
$readyToRunAssemblies = 'DeploymentRollback.Cmdlets', 'DeploymentRollback.Engine', 'DeploymentRollback.Model', 'LibGit2Sharp', 'Microsoft.Data.Sqlite', 'SQLitePCLRaw.core',
    'SQLitePCLRaw.batteries_v2', 'SQLitePCLRaw.provider.e_sqlite3', 'Polly.Core', 'CloudNative.CloudEvents', 'CloudNative.CloudEvents.SystemTextJson',
    'KubernetesClient', 'YamlDotNet', 'Fractions', 'Docker.DotNet', 'Docker.DotNet.Unix', 'Docker.DotNet.Handler.Abstractions'

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Get-ModuleVersion {
    ([xml](Get-Content -Raw (Join-Path $root 'Directory.Build.props'))).Project.PropertyGroup.ModuleVersion | Select-Object -First 1
}

function Get-NuGetPackagesFolder {
    $line = dotnet nuget locals global-packages --list
    ($line -replace '^global-packages:\s*', '').Trim()
}

function Invoke-Build {
    $started = [Diagnostics.Stopwatch]::StartNew()
    if (Test-Path $moduleOut) { Remove-Item $moduleOut -Recurse -Force }
    $dependencies = Join-Path $moduleOut 'Dependencies'
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/Engine/DeploymentRollback.Engine.csproj'), '-c', $Configuration, '-o', $dependencies, '--nologo', '-v', 'quiet')
    Invoke-Native dotnet @('build', (Join-Path $root 'src/Cmdlets/DeploymentRollback.Cmdlets.csproj'), '-c', $Configuration, '--nologo', '-v', 'quiet')
    Copy-Item (Join-Path $root "src/Cmdlets/bin/$Configuration/net8.0/DeploymentRollback.Cmdlets.dll") $moduleOut
    Copy-Item (Join-Path $root "src/Model/bin/$Configuration/net8.0/DeploymentRollback.Model.dll") $moduleOut
    if (Test-Path (Join-Path $dependencies 'DeploymentRollback.Model.dll')) { throw 'The Model assembly must not be in Dependencies/: it is shared from the default load context.' }
    Get-ChildItem (Join-Path $dependencies 'runtimes') -Directory | Where-Object Name -NotIn $supportedRids | Remove-Item -Recurse -Force
    Get-ChildItem $dependencies -Filter '*.pdb' | Where-Object Name -NotLike 'DeploymentRollback.*' | Remove-Item -Force
    Invoke-ReadyToRun $dependencies

    Copy-Item (Join-Path $root 'module/DeploymentRollback.Format.ps1xml'), (Join-Path $root 'LICENSE') $moduleOut
    $manifest = Get-Content -Raw (Join-Path $root 'module/DeploymentRollback.psd1')
    $manifest = $manifest -replace "ModuleVersion(\s*)= '[^']*'", "ModuleVersion`$1= '$(Get-ModuleVersion)'"
    Set-Content -Path (Join-Path $moduleOut 'DeploymentRollback.psd1') -Value $manifest -NoNewline

    # Help: markdown in docs/ becomes MAML, merged with the compiled cmdlets' metadata, in a child pwsh so this process never loads the module.
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tools/New-ModuleHelp.ps1'),
        '-ModulePath', (Join-Path $moduleOut 'DeploymentRollback.psd1'), '-DocsPath', (Join-Path $root 'docs'), '-OutputPath', (Join-Path $moduleOut 'en-US'))
    Write-Host "Built $moduleOut in $([int]$started.Elapsed.TotalSeconds) s"
}

# The build machine's runtime identifier (crossgen2 runs there and compiles for it).
function Get-HostRid {
    $arch = [Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
    $os = if ($IsWindows) { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
    "$os-$arch"
}

function Get-Crossgen2Version {
    [xml] $packages = Get-Content -Raw (Join-Path $root 'Directory.Packages.props')
    @($packages.Project.PropertyGroup.Crossgen2Version)[0]
}

# crossgen2 for the build machine (the version pinned as Crossgen2Version in Directory.Packages.props) and the .NET
# runtime of its major version that it compiles against; $null (with a warning) when no such runtime is installed.
function Get-Crossgen2 {
    $rid = Get-HostRid
    $version = Get-Crossgen2Version
    $major = ([version]$version).Major
    $framework = dotnet --list-runtimes | ForEach-Object { if ($_ -match '^Microsoft\.NETCore\.App (\S+) \[(.+)\]$') { [pscustomobject]@{ Version = [version]($Matches[1] -replace '-.*$', ''); Path = Join-Path $Matches[2] $Matches[1] } } } |
        Where-Object { $_.Version.Major -eq $major } | Sort-Object Version | Select-Object -Last 1
    if (-not $framework) {
        Write-Warning "ReadyToRun skipped: no .NET $major runtime on this machine to compile against."
        return $null
    }
    Invoke-Native dotnet @('restore', (Join-Path $root 'tools/ReadyToRun/ReadyToRun.csproj'), "-p:Crossgen2Rid=$rid", '--nologo', '-v', 'quiet')
    $os, $arch = $rid -split '-', 2
    [pscustomobject]@{
        Path = Join-Path (Get-NuGetPackagesFolder) "microsoft.netcore.app.crossgen2.$rid/$version/tools/crossgen2$(if ($IsWindows) { '.exe' })"
        Version = $version; Major = $major; Rid = $rid; Framework = $framework.Path
        # Every call: one compiled assembly for this platform, optimized.
        Arguments = @('--targetos', @{ win = 'windows'; osx = 'osx'; linux = 'linux' }[$os], '--targetarch', $arch, '-O')
    }
}

# ReadyToRun: replaces the listed assemblies with ones that also carry native code for the build machine's platform
# and the .NET runtime crossgen2's major version is for (PowerShell 7.6's .NET 10). The IL stays in each file, so
# everywhere else (another OS or CPU, PowerShell 7.4 and 7.5 on .NET 8 and 9) the runtime ignores the native code and
# compiles the IL as before: same behaviour, only the start-up cost differs.
function Invoke-ReadyToRun([string] $Dependencies) {
    $crossgen = Get-Crossgen2
    if (-not $crossgen) { Write-Warning 'The module is IL only (slower first call).'; return }
    $staging = Join-Path $out 'r2r'
    if (Test-Path $staging) { Remove-Item $staging -Recurse -Force }
    New-Item -ItemType Directory $staging | Out-Null
    # A response file: PowerShell would expand the wildcards itself when starting a native command on Unix.
    $references = Join-Path $staging 'references.rsp'
    # The Cmdlets assembly is compiled against the System.Management.Automation of the PowerShell running this build.
    Set-Content $references (@((Join-Path $crossgen.Framework '*.dll'), (Join-Path $Dependencies '*.dll'), (Join-Path $moduleOut '*.dll'),
        (Join-Path $PSHOME 'System.Management.Automation.dll'), (Join-Path $PSHOME 'Microsoft.PowerShell.*.dll')) | ForEach-Object { "-r:$_" })
    $compiled = 0
    foreach ($name in $readyToRunAssemblies) {
        $source = @((Join-Path $Dependencies "$name.dll"), (Join-Path $moduleOut "$name.dll")) | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $source) { throw "ReadyToRun: $name.dll is not in the module." }
        $target = Join-Path $staging "$name.dll"
        Invoke-Native $crossgen.Path (@($source, '-o', $target) + $crossgen.Arguments + "@$references")
        Copy-Item $target $source -Force
        $compiled++
    }
    Remove-Item $staging -Recurse -Force
    Write-Host "ReadyToRun: $compiled assemblies compiled for $($crossgen.Rid), .NET $($crossgen.Major) (crossgen2 $($crossgen.Version))"
}

# For the benchmarks: a copy of the PowerShell running this build with its assemblies compiled ReadyToRun, as
# PowerShell's own release packages (deb, rpm, tar.gz, MSI, zip) are; the dotnet tool PowerShell is IL only, so every
# fresh process would compile all of PowerShell's start-up code, which no installed PowerShell does. Made once per
# PowerShell version and crossgen2 pin in out/pwsh-r2r/. Returns its pwsh.dll, or $null when crossgen2 cannot run here.
function Get-ReadyToRunPowerShell {
    $target = Join-Path $out "pwsh-r2r/$($PSVersionTable.PSVersion)-crossgen2-$(Get-Crossgen2Version)"
    $done = Join-Path $target '.compiled'
    if (Test-Path $done) { return Join-Path $target 'pwsh.dll' }
    $crossgen = Get-Crossgen2
    if (-not $crossgen) { return $null }
    $started = [Diagnostics.Stopwatch]::StartNew()
    if (Test-Path $target) { Remove-Item $target -Recurse -Force }
    New-Item -ItemType Directory -Force (Split-Path $target) | Out-Null
    Copy-Item $PSHOME $target -Recurse
    $references = Join-Path $out 'pwsh-r2r/references.rsp'
    Set-Content $references (@((Join-Path $crossgen.Framework '*.dll'), (Join-Path $PSHOME '*.dll')) | ForEach-Object { "-r:$_" })
    $compiled = 0
    foreach ($assembly in Get-ChildItem $PSHOME -Filter '*.dll' -File) {
        $output = Join-Path $target $assembly.Name
        # Reference-only and already compiled assemblies are refused by crossgen2: those stay as they are.
        & $crossgen.Path (@($assembly.FullName, '-o', "$output.r2r") + $crossgen.Arguments + "@$references") *> $null
        if ($LASTEXITCODE -eq 0) { Move-Item "$output.r2r" $output -Force; $compiled++ } else { Remove-Item "$output.r2r" -ErrorAction SilentlyContinue }
    }
    Set-Content $done "$compiled assemblies, crossgen2 $($crossgen.Version)"
    Write-Host "ReadyToRun PowerShell: $compiled of PowerShell $($PSVersionTable.PSVersion)'s assemblies compiled in $([int]$started.Elapsed.TotalSeconds) s ($target)"
    Join-Path $target 'pwsh.dll'
}

# The real components the integration tests need: started here, stopped by Stop-TestComponents.
function Start-TestComponents {
    # dotnet-ef for the EF Core tests: a tool manifest of its own in the fixture, restored into the NuGet cache here so a
    # fresh machine (an empty cache) has it before any test calls it.
    Push-Location (Join-Path $root 'tests/Fixtures/efcore-app')
    try { & dotnet tool restore | Out-Host; Write-Host "dotnet-ef: $(if ($LASTEXITCODE -eq 0) { 'restored' } else { "restore failed (exit code $LASTEXITCODE)" })" }
    finally { Pop-Location }
    $docker = & (Join-Path $root 'tests/Fixtures/Initialize-Docker.ps1')
    Write-Host "Docker engine: $($docker.Reason)"
    $unleash = & (Join-Path $root 'tests/Fixtures/Start-Unleash.ps1')
    Write-Host "Unleash: $(if ($unleash.Available) { "$($unleash.Url), project $($unleash.Project), environment $($unleash.Environment)" } else { $unleash.Reason })"
    if ($unleash.Available) {
        # The tests find the server through these (the tokens are throwaway ones of this run's own server).
        $env:DEPLOYMENT_ROLLBACK_UNLEASH_URL = $unleash.Url
        $env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN = $unleash.AdminToken
        $env:DEPLOYMENT_ROLLBACK_UNLEASH_CLIENT_TOKEN = $unleash.ClientToken
        $env:DEPLOYMENT_ROLLBACK_UNLEASH_PROJECT = $unleash.Project
        $env:DEPLOYMENT_ROLLBACK_UNLEASH_ENVIRONMENT = $unleash.Environment
    }
    # The shared state store tests: PostgreSQL (the Unleash server's throwaway cluster, trust on loopback) and Azurite.
    if ($unleash.PostgresPort) { $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT = $unleash.PostgresPort }
    $azurite = & (Join-Path $root 'tests/Fixtures/Start-Azurite.ps1')
    Write-Host "Azurite: $(if ($azurite.Available) { "port $($azurite.Port)" } else { $azurite.Reason })"
    if ($azurite.Available) { $env:DEPLOYMENT_ROLLBACK_TEST_AZURITE_PORT = $azurite.Port }
    if ((-not $docker.Available -or -not $unleash.Available) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -eq '1') {
        Write-Host 'DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION=1: tests of a missing component will fail rather than skip.'
    }
    [pscustomobject]@{ Docker = $docker; Unleash = $unleash; Azurite = $azurite }
}

function Stop-TestComponents($components) {
    if ($components.Azurite.Started) { & (Join-Path $root 'tests/Fixtures/Start-Azurite.ps1') -Stop }
    if ($components.Unleash.Started) { & (Join-Path $root 'tests/Fixtures/Start-Unleash.ps1') -Stop | Out-Null }
    if ($components.Docker.Started) { & (Join-Path $root 'tests/Fixtures/Initialize-Docker.ps1') -Stop }
}

function Invoke-Test {
    $results = Join-Path $out 'test-results'
    $totals = [ordered]@{ passed = 0; failed = 0; skipped = 0; failures = [System.Collections.Generic.List[string]]::new() }
    if ($Tier -eq 'Unit') {
        New-Item -ItemType Directory -Force $results | Out-Null
        Invoke-XunitProject 'Unit' $results $totals
    }
    else {
        Invoke-Build
        New-Item -ItemType Directory -Force $results | Out-Null
        $components = Start-TestComponents
        try { Invoke-TestRunners $results $totals } finally { Stop-TestComponents $components }
    }
    if ($totals.passed -eq 0) { $totals.failed++; Write-Host 'No test ran.' }
    if ($totals.failures.Count -gt 0) {
        Write-Host ''
        Write-Host 'Failed:'
        # Each on one line, cut short: the full text is in the runner's output above and in out/test-results.
        foreach ($failure in $totals.failures) {
            $line = $failure -replace '\s+', ' '
            Write-Host "  $(if ($line.Length -gt 300) { $line.Substring(0, 300) + '...' } else { $line })"
        }
    }
    Write-Host ''
    Write-Host "$($totals.passed) passed, $($totals.failed) failed, $($totals.skipped) skipped"
    if ($totals.failed -gt 0) { exit 1 }
}

# One xunit project (tests/<Name>), its counts added to the totals from its trx file.
function Invoke-XunitProject([string] $Name, [string] $results, $totals) {
    $trx = Join-Path $results "$($Name.ToLowerInvariant()).trx"
    if (Test-Path $trx) { Remove-Item $trx }
    & dotnet test (Join-Path $root "tests/$Name/DeploymentRollback.Tests.$Name.csproj") -c $Configuration --nologo --logger "trx;LogFileName=$trx" --logger 'console;verbosity=normal'
    $exit = $LASTEXITCODE
    $failedBefore = $totals.failed
    if (Test-Path $trx) {
        $run = [xml](Get-Content -Raw $trx)
        $counters = $run.TestRun.ResultSummary.Counters
        $totals.passed += [int]$counters.passed
        $totals.failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout
        $totals.skipped += [int]$counters.notExecuted
        Write-Host "xunit ($Name): $($counters.passed) passed, $([int]$counters.failed + [int]$counters.error) failed, $($counters.notExecuted) skipped"
        foreach ($result in $run.TestRun.Results.UnitTestResult | Where-Object outcome -in 'Failed', 'Error', 'Timeout') {
            $totals.failures.Add("xunit ($Name) $($result.testName): $($result.Output.ErrorInfo.Message)")
        }
    }
    if ($exit -ne 0 -and $totals.failed -eq $failedBefore) { $totals.failed++; Write-Host "xunit ($Name): the test run itself failed" }
}

function Invoke-TestRunners([string] $results, $totals) {
    Invoke-XunitProject 'Unit' $results $totals
    Invoke-XunitProject 'Integration' $results $totals

    Invoke-Native dotnet @('restore', (Join-Path $root 'tests/Pester/PesterDependencies.csproj'), '--nologo', '-v', 'quiet')
    $pester = Join-Path (Get-NuGetPackagesFolder) 'pester/5.7.1/tools/Pester.psd1'
    $counts = Join-Path $results 'pester-counts.json'
    if (Test-Path $counts) { Remove-Item $counts }
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/Pester/Invoke-PesterSuite.ps1') -PesterPath $pester -ModulePath (Join-Path $moduleOut 'DeploymentRollback.psd1') -CountsPath $counts -ResultsPath (Join-Path $results 'pester.xml')
    if (Test-Path $counts) {
        $pesterCounts = Get-Content -Raw $counts | ConvertFrom-Json
        $totals.passed += $pesterCounts.passed
        $totals.failed += $pesterCounts.failed
        $totals.skipped += $pesterCounts.skipped
        foreach ($failure in $pesterCounts.failures) { $totals.failures.Add("Pester $failure") }
        Write-Host "Pester: $($pesterCounts.passed) passed, $($pesterCounts.failed) failed, $($pesterCounts.skipped) skipped"
    }
    else {
        $totals.failed++
        Write-Host 'Pester: the run did not complete'
    }
}

function Invoke-Demo {
    Invoke-Build
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'demo/Invoke-Demo.ps1'), '-ModulePath', (Join-Path $moduleOut 'DeploymentRollback.psd1'))
}

function Invoke-Bench {
    Invoke-Build
    # The benchmarks run on PowerShell as it is installed (ReadyToRun); the dotnet tool's IL-only PowerShell is compared
    # in the start-up section. Without crossgen2 they run on the dotnet tool itself.
    $pwsh = Get-ReadyToRunPowerShell
    $arguments = @($(if ($pwsh) { $pwsh } else { 'pwsh' }), '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'bench/Invoke-Benchmarks.ps1'),
        '-ModulePath', (Join-Path $moduleOut 'DeploymentRollback.psd1'), '-OutputPath', (Join-Path $root 'docs/BENCHMARKS.md'),
        '-ToolPwsh', (Join-Path $PSHOME 'pwsh.dll'))
    if ($Only) { $arguments += @('-Only', $Only) }
    Invoke-Native dotnet $arguments
}

function Invoke-Package {
    Invoke-Build
    $packages = Join-Path $out 'packages'
    $repository = Join-Path $out 'repository'
    foreach ($folder in $packages, $repository) {
        if (Test-Path $folder) { Remove-Item $folder -Recurse -Force }
        New-Item -ItemType Directory $folder | Out-Null
    }
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tools/Publish-Module.ps1'),
        '-ModuleFolder', $moduleOut, '-RepositoryPath', $repository, '-ZipPath', (Join-Path $packages "DeploymentRollback-$(Get-ModuleVersion).zip"))
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'Package' { Invoke-Package }
    'Clean' {
        foreach ($folder in @($out) + (Get-ChildItem $root -Recurse -Directory -Include bin, obj | Select-Object -ExpandProperty FullName)) {
            if (Test-Path $folder) { Remove-Item $folder -Recurse -Force }
        }
    }
}
