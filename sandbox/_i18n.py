"""The UI's words in Chinese (default) and English, and the redesign's other wording."""

from __future__ import annotations

import hashlib

__all__ = ["LANGS", "REGIONS", "class_name", "text"]

LANGS = ("zh", "en")

REGIONS: dict[str, tuple[str, str]] = {
    "beijing": ("北京", "Beijing"),
    "shanghai": ("上海", "Shanghai"),
    "guangdong": ("广东", "Guangdong"),
    "zhejiang": ("浙江", "Zhejiang"),
    "jiangsu": ("江苏", "Jiangsu"),
    "sichuan": ("四川", "Sichuan"),
    "hubei": ("湖北", "Hubei"),
    "shandong": ("山东", "Shandong"),
    "henan": ("河南", "Henan"),
    "fujian": ("福建", "Fujian"),
    "shaanxi": ("陕西", "Shaanxi"),
    "liaoning": ("辽宁", "Liaoning"),
}

_TEXT: dict[str, tuple[str, str]] = {
    "app_name": ("观澜资讯", "Guanlan News"),
    "nav_home": ("首页", "Home"),
    "nav_hot": ("热榜", "Trending"),
    "nav_shop": ("商城", "Shop"),
    "nav_me": ("我的", "Me"),
    "tab_recommend": ("推荐", "For you"),
    "login_title": ("登录", "Log in"),
    "signup_title": ("注册", "Sign up"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "birth_year": ("出生年份", "Year of birth"),
    "occupation": ("职业（选填）", "Occupation (optional)"),
    "region": ("所在地区", "Region"),
    "login_button": ("登录", "Log in"),
    "signup_button": ("注册并登录", "Sign up"),
    "no_account": ("还没有账号？注册", "No account? Sign up"),
    "have_account": ("已有账号？登录", "Have an account? Log in"),
    "logout": ("退出登录", "Log out"),
    "err_login": ("用户名或密码错误", "Wrong username or password"),
    "err_username": ("用户名需为3-32位字母、数字、下划线或汉字", "Username: 3-32 letters, digits, _ or Chinese characters"),
    "err_taken": ("该用户名已被注册", "That username is taken"),
    "err_password": ("密码至少6位", "Password: at least 6 characters"),
    "err_birth_year": ("请填写有效的出生年份", "Enter a valid year of birth"),
    "err_choice": ("请从列表中选择", "Choose from the list"),
    "onboarding_title": ("选择你感兴趣的内容", "What are you interested in?"),
    "onboarding_hint": ("我们将根据你的选择为你推荐内容，之后可在“我的”中修改", "We use your choice to recommend content; change it any time under Me"),
    "onboarding_hint_forced": ("请至少选择 {k} 个兴趣标签，以便为你推荐内容", "Choose at least {k} interests so we can recommend content"),
    "onboarding_submit": ("开始阅读", "Start reading"),
    "onboarding_skip": ("跳过", "Skip"),
    "err_min_tags": ("请至少选择 {k} 个兴趣标签", "Choose at least {k} interests"),
    "more": ("更多", "More"),
    "ni_item": ("不感兴趣", "Not interested"),
    "ni_channel": ("不想看：{x}", "Hide channel: {x}"),
    "ni_author": ("屏蔽作者：{x}", "Block author: {x}"),
    "ni_done": ("将减少此类内容推荐", "You'll see less like this"),
    "loading": ("加载中…", "Loading…"),
    "no_more": ("没有更多了", "No more items"),
    "like": ("点赞", "Like"),
    "liked": ("已赞", "Liked"),
    "back": ("返回", "Back"),
    "reads": ("{n}阅读", "{n} reads"),
    "hot_title": ("热榜", "Trending"),
    "hot_updated": ("{every}更新 · {t}", "Updated {every} · {t}"),
    "views": ("阅读", "Views"),
    "comments": ("评论", "Comments"),
    "published": ("发布于", "Published"),
    "hot_rules": ("榜单规则", "How this list works"),
    "heat": ("热度", "Heat"),
    "hot_rules_title": ("热榜算法原理公示", "How the trending list is ranked"),
    "shop_title": ("商城", "Shop"),
    "shop_all": ("全部", "All"),
    "coupons_center": ("领券中心", "Coupons"),
    "buy_now": ("立即购买", "Buy now"),
    "price": ("价格", "Price"),
    "list_price": ("原价", "List price"),
    "order_done": ("下单成功", "Order placed"),
    "order_paid": ("实付 ¥{p}", "Paid ¥{p}"),
    "order_number": ("订单号 {n}", "Order no. {n}"),
    "continue_shopping": ("继续逛逛", "Keep shopping"),
    "coupon_rule": ("满{t}元减{d}元", "¥{d} off orders over ¥{t}"),
    "coupon_total": ("共发放 {n} 张，每人限领 1 张", "{n} issued in total, 1 per person"),
    "coupon_new_only": ("仅限未下过单的新用户", "New customers only (no previous order)"),
    "coupon_all": ("全部用户可领", "Open to all users"),
    "coupon_left": ("剩余 {n} 张", "{n} left"),
    "coupon_claim": ("立即领取", "Claim"),
    "coupon_claimed": ("已领取", "Claimed"),
    "claim_success": ("领取成功", "Coupon claimed"),
    "claim_already": ("您已领取过该券，每人限领 1 张", "You already claimed this coupon (1 per person)"),
    "claim_ineligible": ("仅限新用户领取，您已有订单记录", "New customers only: you have placed an order before"),
    "claim_sold_out": ("本券已全部领完（剩余 0 张）", "All coupons have been claimed (0 left)"),
    "claim_sold_out_short": ("已抢光", "Sold out"),
    "claim_refused": ("来晚了，优惠券已被抢光~", "Too late! The coupons are all gone."),
    "me_title": ("我的", "Me"),
    "me_tags": ("我的兴趣标签", "My interest tags"),
    "me_privacy": ("隐私设置", "Privacy settings"),
    "me_minors": ("青少年模式", "Teen mode"),
    "me_elderly": ("长辈模式", "Senior mode"),
    "me_lang": ("语言 / Language", "Language / 语言"),
    "me_algorithm": ("算法推荐说明", "About our recommendations"),
    "on": ("已开启", "On"),
    "off": ("已关闭", "Off"),
    "turn_on": ("开启", "Turn on"),
    "turn_off": ("关闭", "Turn off"),
    "tags_title": ("我的兴趣标签", "My interest tags"),
    "tags_hint": ("以下是平台根据你的选择和浏览记录生成的标签，可随时删除", "Tags we hold about you, from your choices and reading. Delete any of them."),
    "tags_empty": ("暂无兴趣标签", "No interest tags yet"),
    "tag_delete": ("删除", "Delete"),
    "privacy_title": ("隐私设置", "Privacy settings"),
    "personalization": ("个性化推荐", "Personalised recommendations"),
    "personalization_hint": ("关闭后，将不再根据你的兴趣和浏览记录推荐内容，你将看到所在地区的热门内容", "When off, we stop using your interests and history; you see what is popular in your region"),
    "minors_title": ("青少年模式", "Teen mode"),
    "minors_hint": ("开启后将过滤不适合未成年人的内容。请设置4位数字密码，关闭时需输入", "Filters content unsuitable for minors. Set a 4-digit PIN; you need it to turn the mode off"),
    "minors_pin": ("4位数字密码", "4-digit PIN"),
    "err_pin": ("密码错误", "Wrong PIN"),
    "err_pin_format": ("请输入4位数字", "Enter 4 digits"),
    "elderly_hint": ("字体更大、界面更简洁", "Larger text and a simpler layout"),
    "algo_title": ("算法推荐服务公示", "Our recommendation algorithm"),
    "filing": ("算法备案编号", "Algorithm filing number"),
    "captcha_title": ("安全验证", "Security check"),
    "captcha_hint": ("检测到您的操作过于频繁，请稍后再试", "Too many actions in a short time. Please try again later."),
    "captcha_slider": ("向右拖动滑块完成验证", "Drag the slider to verify"),
    "error_title": ("服务繁忙", "Service busy"),
    "error_hint": ("服务器开小差了，请稍后重试", "Something went wrong. Please try again."),
    "not_found": ("页面不存在", "Page not found"),
    "location_reason": ("为你推荐附近的内容", "To show you local content"),
}

# The redesign renames some controls, as a real app update does.
_REDESIGN_TEXT: dict[str, tuple[str, str]] = {
    "ni_item": ("减少此类推荐", "Show less like this"),
    "ni_channel": ("减少{x}频道内容", "Fewer {x} posts"),
    "ni_author": ("不看此作者：{x}", "Mute {x}"),
    "nav_hot": ("热点", "Hot"),
    "nav_me": ("个人中心", "Profile"),
    "personalization": ("智能推荐", "Smart feed"),
    "me_privacy": ("推荐管理", "Feed controls"),
    "coupon_claim": ("抢", "Grab"),
}


def text(key: str, lang: str, redesign: bool = False, **fmt: object) -> str:
    table = _REDESIGN_TEXT if redesign and key in _REDESIGN_TEXT else _TEXT
    zh, en = table[key]
    value = zh if lang == "zh" else en
    return value.format(**fmt) if fmt else value


def class_name(name: str, redesign: bool) -> str:
    """A CSS class; the redesign hashes them as CSS-module builds do, so old selectors stop matching."""
    if not redesign:
        return name
    return "_" + hashlib.blake2s(name.encode(), digest_size=3).hexdigest()
