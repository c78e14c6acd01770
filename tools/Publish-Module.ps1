<#
.SYNOPSIS
    Package: publishes the built module as a .nupkg to a local folder repository (PSResourceGet) and lays out a
    .zip for import into Azure Automation (a folder named after the module, holding the module's files).
#>
param(
    [Parameter(Mandatory)] [string] $ModuleFolder,
    [Parameter(Mandatory)] [string] $RepositoryPath,
    [Parameter(Mandatory)] [string] $ZipPath
)

$ErrorActionPreference = 'Stop'
$repositoryName = 'DeploymentRollbackLocal'
Import-Module Microsoft.PowerShell.PSResourceGet
if (Get-PSResourceRepository -Name $repositoryName -ErrorAction SilentlyContinue) { Unregister-PSResourceRepository -Name $repositoryName }
Register-PSResourceRepository -Name $repositoryName -Uri $RepositoryPath -Trusted
try {
    Publish-PSResource -Path $ModuleFolder -Repository $repositoryName
    $found = Find-PSResource -Name DeploymentRollback -Repository $repositoryName
    Write-Host "Published $($found.Name) $($found.Version) to $RepositoryPath"
}
finally { Unregister-PSResourceRepository -Name $repositoryName }

$staging = Join-Path ([IO.Path]::GetTempPath()) "dr-zip-$([Guid]::NewGuid().ToString('N'))"
try {
    Copy-Item $ModuleFolder (Join-Path $staging 'DeploymentRollback') -Recurse
    if (Test-Path $ZipPath) { Remove-Item $ZipPath }
    Compress-Archive -Path (Join-Path $staging 'DeploymentRollback') -DestinationPath $ZipPath
    Write-Host "Azure Automation package: $ZipPath"
}
finally { Remove-Item $staging -Recurse -Force -ErrorAction SilentlyContinue }
