<#
.SYNOPSIS
    Turns docs/commands/*.md (platyPS layout) into MAML help, merged with the compiled cmdlets' metadata.
.DESCRIPTION
    platyPS is not available from the package feeds we build with, so this small converter does its job:
    texts come from the markdown, types, positions, pipeline input and parameter sets from the cmdlets
    themselves. It fails when docs and code drift apart: a cmdlet without a page, a page or parameter
    without a description, an example missing, or a documented parameter that does not exist.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$module = Import-Module $ModulePath -PassThru
$problems = [Collections.Generic.List[string]]::new()
$common = [System.Management.Automation.PSCmdlet]::CommonParameters
$shouldProcessDefaults = @{
    WhatIf  = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}

function Read-Page([string] $path) {
    $sections = [ordered]@{}
    $current = $null
    $inFence = $false
    foreach ($line in Get-Content $path) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^## (.+)$') { $current = $Matches[1].Trim(); $sections[$current] = [Collections.Generic.List[string]]::new(); continue }
        if ($null -ne $current) { $sections[$current].Add($line) }
    }
    $sections
}

function Split-Subsections([Collections.Generic.List[string]] $lines) {
    $result = [ordered]@{}
    $current = $null
    $inFence = $false
    foreach ($line in $lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^### (.+)$') { $current = $Matches[1].Trim(); $result[$current] = [Collections.Generic.List[string]]::new(); continue }
        if ($null -ne $current) { $result[$current].Add($line) }
    }
    $result
}

function Get-Paragraphs([string[]] $lines) {
    $text = ($lines -join "`n").Trim()
    if (-not $text) { return @() }
    @($text -split "`n\s*`n" | ForEach-Object { ($_ -split "`n" | ForEach-Object Trim) -join ' ' })
}

function Escape([string] $text) { [Security.SecurityElement]::Escape($text) }

function Write-Paras($writer, [string[]] $paragraphs) {
    foreach ($p in $paragraphs) { $writer.Add("<maml:para>$(Escape $p)</maml:para>") }
}

function Get-PipelineText($parameter) {
    $byValue = $parameter.Attributes | Where-Object { $_ -is [Parameter] -and $_.ValueFromPipeline }
    $byName = $parameter.Attributes | Where-Object { $_ -is [Parameter] -and $_.ValueFromPipelineByPropertyName }
    if ($byValue -and $byName) { 'True (ByValue, ByPropertyName)' } elseif ($byValue) { 'True (ByValue)' } elseif ($byName) { 'True (ByPropertyName)' } else { 'False' }
}

function Write-Parameter($xml, $command, [string] $name, [hashtable] $descriptions, $setParameter) {
    $parameter = $command.Parameters[$name]
    $type = $parameter.ParameterType
    $typeName = if ($type.IsGenericType) { $type.GenericTypeArguments[0].Name } else { $type.Name }
    $required = if ($setParameter) { $setParameter.IsMandatory.ToString().ToLower() } else { ($parameter.Attributes | Where-Object { $_ -is [Parameter] -and $_.Mandatory }) -as [bool] }
    $position = if ($setParameter -and $setParameter.Position -ge 0) { $setParameter.Position } else { 'named' }
    $aliases = if ($parameter.Aliases.Count) { $parameter.Aliases -join ', ' } else { 'none' }
    $globbing = [bool]($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $xml.Add("<command:parameter required=`"$("$required".ToLower())`" variableLength=`"$($type.IsArray.ToString().ToLower())`" globbing=`"$($globbing.ToString().ToLower())`" pipelineInput=`"$(Get-PipelineText $parameter)`" position=`"$position`" aliases=`"$aliases`">")
    $xml.Add("<maml:name>$name</maml:name>")
    $xml.Add('<maml:description>'); Write-Paras $xml $descriptions[$name]; $xml.Add('</maml:description>')
    if ($type -ne [switch]) {
        $xml.Add("<command:parameterValue required=`"true`" variableLength=`"$($type.IsArray.ToString().ToLower())`">$(Escape $typeName)</command:parameterValue>")
    }
    $validateSet = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    if ($validateSet) {
        $xml.Add('<command:parameterValueGroup>')
        foreach ($value in $validateSet.ValidValues) { $xml.Add("<command:parameterValue required=`"false`" variableLength=`"false`">$(Escape $value)</command:parameterValue>") }
        $xml.Add('</command:parameterValueGroup>')
    }
    $xml.Add("<dev:type><maml:name>$(Escape $type.FullName)</maml:name></dev:type><dev:defaultValue>None</dev:defaultValue>")
    $xml.Add('</command:parameter>')
}

$xml = [Collections.Generic.List[string]]::new()
$xml.Add('<?xml version="1.0" encoding="utf-8"?>')
$xml.Add('<helpItems schema="maml" xmlns="http://msh">')
foreach ($command in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
    $page = Join-Path $DocsPath "commands/$($command.Name).md"
    if (-not (Test-Path $page)) { $problems.Add("$($command.Name): no help page at $page"); continue }
    $sections = Read-Page $page
    $synopsis = if ($sections.Contains('SYNOPSIS')) { Get-Paragraphs $sections['SYNOPSIS'] } else { @() }
    $description = if ($sections.Contains('DESCRIPTION')) { Get-Paragraphs $sections['DESCRIPTION'] } else { @() }
    if (-not $synopsis) { $problems.Add("$($command.Name): no SYNOPSIS") }
    if (-not $description) { $problems.Add("$($command.Name): no DESCRIPTION") }

    $documented = @{}
    if ($sections.Contains('PARAMETERS')) {
        $sub = Split-Subsections $sections['PARAMETERS']
        foreach ($key in $sub.Keys) { $documented[$key.TrimStart('-')] = @(Get-Paragraphs ($sub[$key] | Where-Object { $_ -notmatch '^```' })) }
    }
    $parameterNames = @($command.Parameters.Keys | Where-Object { $_ -notin $common })
    foreach ($name in $parameterNames) {
        if (-not $documented[$name] -and $shouldProcessDefaults.ContainsKey($name)) { $documented[$name] = @($shouldProcessDefaults[$name]) }
        if (-not $documented[$name]) { $problems.Add("$($command.Name): parameter -$name has no description") }
    }
    foreach ($name in $documented.Keys) {
        if ($name -notin $parameterNames) { $problems.Add("$($command.Name): documents -$name, which the cmdlet does not have") }
    }

    $xml.Add('<command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10" xmlns:MSHelp="http://msdn.microsoft.com/mshelp">')
    $xml.Add("<command:details><command:name>$($command.Name)</command:name><command:verb>$($command.Verb)</command:verb><command:noun>$($command.Noun)</command:noun>")
    $xml.Add('<maml:description>'); Write-Paras $xml $synopsis; $xml.Add('</maml:description></command:details>')
    $xml.Add('<maml:description>'); Write-Paras $xml $description; $xml.Add('</maml:description>')

    $xml.Add('<command:syntax>')
    foreach ($set in $command.ParameterSets) {
        $xml.Add("<command:syntaxItem><maml:name>$($command.Name)</maml:name>")
        foreach ($setParameter in $set.Parameters | Where-Object { $_.Name -notin $common }) {
            Write-Parameter $xml $command $setParameter.Name $documented $setParameter
        }
        $xml.Add('</command:syntaxItem>')
    }
    $xml.Add('</command:syntax><command:parameters>')
    foreach ($name in $parameterNames | Sort-Object) { Write-Parameter $xml $command $name $documented $null }
    $xml.Add('</command:parameters>')

    foreach ($kind in @(@{ Section = 'INPUTS'; List = 'inputTypes'; Item = 'inputType' }, @{ Section = 'OUTPUTS'; List = 'returnValues'; Item = 'returnValue' })) {
        $xml.Add("<command:$($kind.List)>")
        if ($sections.Contains($kind.Section)) {
            $types = Split-Subsections $sections[$kind.Section]
            foreach ($typeName in $types.Keys) {
                $xml.Add("<command:$($kind.Item)><dev:type><maml:name>$(Escape $typeName)</maml:name></dev:type><maml:description>")
                Write-Paras $xml (Get-Paragraphs $types[$typeName])
                $xml.Add("</maml:description></command:$($kind.Item)>")
            }
        }
        $xml.Add("</command:$($kind.List)>")
    }

    if ($sections.Contains('NOTES')) {
        $xml.Add('<maml:alertSet><maml:alert>'); Write-Paras $xml (Get-Paragraphs $sections['NOTES']); $xml.Add('</maml:alert></maml:alertSet>')
    }

    $examples = if ($sections.Contains('EXAMPLES')) { Split-Subsections $sections['EXAMPLES'] } else { [ordered]@{} }
    if ($examples.Count -eq 0) { $problems.Add("$($command.Name): no example") }
    $xml.Add('<command:examples>')
    foreach ($title in $examples.Keys) {
        $lines = @($examples[$title])
        $fenceStarts = @(0..($lines.Count - 1) | Where-Object { $lines[$_] -match '^```' })
        if ($fenceStarts.Count -lt 2) { $problems.Add("$($command.Name): example '$title' has no code block"); continue }
        $code = ($lines[($fenceStarts[0] + 1)..($fenceStarts[1] - 1)] -join "`n")
        $remarks = if ($fenceStarts[1] + 1 -lt $lines.Count) { Get-Paragraphs $lines[($fenceStarts[1] + 1)..($lines.Count - 1)] } else { @() }
        $xml.Add("<command:example><maml:title>-------------------------- $(Escape $title) --------------------------</maml:title>")
        $xml.Add("<dev:code>$(Escape $code)</dev:code><dev:remarks>"); Write-Paras $xml $remarks; $xml.Add('</dev:remarks></command:example>')
    }
    $xml.Add('</command:examples>')

    $xml.Add('<command:relatedLinks>')
    if ($sections.Contains('RELATED LINKS')) {
        foreach ($link in $sections['RELATED LINKS'] | Where-Object { $_ -match '^\s*-\s*(.+)$' } | ForEach-Object { $Matches[1].Trim() }) {
            $xml.Add("<maml:navigationLink><maml:linkText>$(Escape $link)</maml:linkText><maml:uri /></maml:navigationLink>")
        }
    }
    $xml.Add('</command:relatedLinks></command:command>')
}
$xml.Add('</helpItems>')

$about = Join-Path $DocsPath 'about_DeploymentRollback.md'
if (-not (Test-Path $about)) { $problems.Add("no about_DeploymentRollback.md in $DocsPath") }
# Every strategy the engine has needs its own topic: the cmdlet pages carry the shared flow only.
foreach ($strategy in [DeploymentRollback.Commands.InternalHooks]::EngineStrategies()) {
    if (-not (Test-Path (Join-Path $DocsPath "about_DeploymentRollback_$strategy.md"))) { $problems.Add("no about_DeploymentRollback_$strategy.md in $DocsPath for the $strategy strategy") }
}
if ($problems.Count) {
    $problems | ForEach-Object { Write-Host "help: $_" }
    throw "The help in $DocsPath does not match the cmdlets ($($problems.Count) problem(s) above)."
}

New-Item -ItemType Directory -Force $OutputPath | Out-Null
$assemblyName = [IO.Path]::GetFileName($module.RootModule)
Set-Content -Path (Join-Path $OutputPath "$assemblyName-Help.xml") -Value ($xml -join "`n") -Encoding utf8
foreach ($topic in Get-ChildItem $DocsPath -Filter 'about_*.md') {
    Copy-Item $topic.FullName (Join-Path $OutputPath "$($topic.BaseName).help.txt")
}
