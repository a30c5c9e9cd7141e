// The Daily Ledger — demo script: caption toggle and cookie banner.
document.querySelectorAll('.toggle-caption').forEach(function(b){b.addEventListener('click',function(){b.closest('figure').classList.toggle('caption-hidden');});});
document.querySelectorAll('.btn-accept').forEach(function(b){b.addEventListener('click',function(){b.closest('.cookie-banner').remove();});});
