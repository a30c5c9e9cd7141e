// Metro Wire Daily — ad loader stub; the demo serves no ads.
window.mwAds = window.mwAds || [];
