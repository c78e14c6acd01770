<#
.SYNOPSIS
    Runs every Pester test against the built module, in this (child) pwsh, and writes the counts for build.ps1.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $CountsPath,
    [Parameter(Mandatory)] [string] $ResultsPath
)

$ErrorActionPreference = 'Stop'
# Plain text: error messages end up in the NUnit XML, where terminal escape codes are invalid characters.
$PSStyle.OutputRendering = 'PlainText'
Import-Module $PesterPath -RequiredVersion 5.7.1
$env:DEPLOYMENT_ROLLBACK_TEST_MODULE = (Resolve-Path $ModulePath).Path

$configuration = New-PesterConfiguration
$configuration.Run.Path = $PSScriptRoot
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
$configuration.TestResult.Enabled = $true
$configuration.TestResult.OutputFormat = 'NUnitXml'
$configuration.TestResult.OutputPath = $ResultsPath
$counts = @{ passed = 0; failed = 1; skipped = 0; failures = @() }
try {
    $result = Invoke-Pester -Configuration $configuration
    # A container that failed to load (syntax error, BeforeAll failure) counts as a failure, not as nothing.
    $counts = @{
        passed  = $result.PassedCount
        failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
        skipped = $result.SkippedCount + $result.NotRunCount
        # Named again at the very end of the test command's output, where a log cut to its tail still shows them.
        failures = @($result.Failed | ForEach-Object { "$($_.ExpandedPath): $(($_.ErrorRecord | Select-Object -First 1).Exception.Message)" }) +
            @($result.FailedBlocks | ForEach-Object { "$($_.Path -join '.') (block): $(($_.ErrorRecord | Select-Object -First 1).Exception.Message)" }) +
            @($result.FailedContainers | ForEach-Object { "$($_.Item) (file): $(($_.ErrorRecord | Select-Object -First 1).Exception.Message)" })
    }
}
finally { $counts | ConvertTo-Json | Set-Content $CountsPath }
